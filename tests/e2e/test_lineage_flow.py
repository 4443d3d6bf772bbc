"""The whole data flow on a served platform, then its lineage both ways and its OpenLineage events.

Define and materialize a feature view, build a training dataset, train and register a model with the
stock `mlflow` client (the run names its dataset with the `mlplatform.training_dataset` param), validate,
promote and deploy it through the catalogue API; then ask for the provenance of the deployment and the
impact of the feature view (one call each), and check every OpenLineage event the platform sent to a
loopback "Marquez" against the OpenLineage 2-0-2 schemas.

Runs on the embedded default (SQLite, local folder, jobs in-process) so it needs no other service.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.lineage.capture import CaptureServer, capture_server
from tests.integration.lineage.schema import validate_run_event
from tests.support.factories import unique_name
from tests.support.http_calls import call, finished_job
from tests.support.served import serve
from tests.support.wait import wait_until_async

pytestmark = pytest.mark.e2e

ADMIN_KEY = f"e2e-lineage-{uuid.uuid4().hex}"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Platform:
    base: str
    data_dir: Path
    marquez: CaptureServer


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Platform]:
    data_dir = tmp_path / "data"
    with capture_server() as marquez:
        env = {
            "MLPLATFORM_DATA_DIR": str(data_dir),
            "MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
            "MLPLATFORM_OPENLINEAGE_URL": marquez.url,
            "MLPLATFORM_LOG_LEVEL": "WARNING",
        }
        with serve(tmp_path, env, log=tmp_path / "serve.log", ready_path="/health/live") as served:
            yield Platform(served.base_url, data_dir, marquez)


def write_raw_data(served: Platform, project: str) -> str:
    import pandas as pd

    key = "raw/cards.parquet"
    path = served.data_dir / "objects" / "projects" / project / key
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "card_id": pd.Series([1, 2, 3, 1, 2, 3], dtype="int64"),
            "event_timestamp": [T0 + timedelta(hours=h) for h in (0, 0, 0, 5, 5, 5)],
            "txn_count": pd.Series([3, 8, 1, 4, 9, 2], dtype="int64"),
            "amount_avg": [12.5, 80.0, 5.0, 13.0, 75.0, 6.5],
        }
    ).to_parquet(path, index=False)
    return key


def train_and_register(base: str, project: str, dataset_id: str, dataset_uri: str) -> str:
    """What a data scientist runs: the stock mlflow client, with the dataset id the features API returned
    (as a param) and the dataset itself (as an MLflow dataset input whose source is its storage URI)."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.tracking._model_registry import utils as registry_utils
    from sklearn.linear_model import LogisticRegression

    os.environ["MLFLOW_TRACKING_URI"] = f"{base}/mlflow"
    os.environ["MLFLOW_TRACKING_TOKEN"] = ADMIN_KEY
    # An app that opened MLflow's stores in this process (an earlier test) set the process' default registry
    # URI to its database: point it at the served platform for this run, and put it back afterwards.
    previous_registry_uri = registry_utils._registry_uri
    try:
        mlflow.set_tracking_uri(f"{base}/mlflow")
        mlflow.set_registry_uri(f"{base}/mlflow")
        mlflow.set_experiment(f"{project}/card-fraud")
        features = np.array([[3, 12.5], [8, 80.0], [1, 5.0], [4, 13.0], [9, 75.0], [2, 6.5]])
        labels = np.array([0, 1, 0, 0, 1, 0])
        with mlflow.start_run(run_name="baseline") as run:
            mlflow.log_param("mlplatform.training_dataset", dataset_id)
            mlflow.set_tag("mlplatform.feature_service", "card_features")
            frame = pd.read_parquet(dataset_uri)
            mlflow.log_input(from_pandas(frame, source=dataset_uri, name="cards"), context="training")
            model = LogisticRegression().fit(features, labels)
            mlflow.log_metric("accuracy", float(model.score(features, labels)))
            mlflow.sklearn.log_model(model, name="model", registered_model_name=f"{project}.scorer")
        return str(run.info.run_id)
    finally:
        registry_utils._registry_uri = previous_registry_uri
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_TOKEN"):
            os.environ.pop(name, None)


async def lineage(client: httpx.AsyncClient, node: str, direction: str, until: set[str]) -> dict[str, Any]:
    """Poll until the outbox has delivered everything `until` needs (delivery is asynchronous)."""
    body: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal body
        response = await client.get("/api/v1/lineage", params={"node": node, "direction": direction, "depth": 10})
        if response.status_code != 200:
            return False
        body = response.json()
        return until <= {n["type"] for n in body["nodes"]}

    await wait_until_async(
        reached, timeout=60, interval=0.2, message=lambda: f"lineage of {node} reaching {until}: {body}"
    )
    return body


async def test_data_flow_lineage_both_ways(served: Platform) -> None:
    project = unique_name("flow", 6)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=served.base, headers=headers, timeout=120) as client:
        await call(client, "POST", "/api/v1/projects", 201, json={"name": project})
        features = f"/api/v1/projects/{project}/features"
        key = write_raw_data(served, project)
        for path, body in (
            ("entities", {"name": "card", "join_key": "card_id"}),
            ("data-sources", {"name": "cards", "kind": "parquet", "path": key, "timestamp_field": "event_timestamp"}),
            (
                "feature-views",
                {
                    "name": "card_stats",
                    "entities": ["card"],
                    "features": [{"name": "txn_count", "dtype": "int64"}, {"name": "amount_avg", "dtype": "float64"}],
                    "source": "cards",
                },
            ),
            ("feature-services", {"name": "card_features", "features": ["card_stats"]}),
        ):
            await call(client, "POST", f"{features}/{path}", 201, json=body)

        materialization = await call(
            client,
            "POST",
            f"{features}/materializations",
            202,
            json={
                "feature_views": ["card_stats"],
                "start": T0.isoformat(),
                "end": (T0 + timedelta(days=1)).isoformat(),
            },
        )
        await finished_job(client, materialization)
        entity_rows = [
            {"card_id": c, "event_timestamp": (T0 + timedelta(hours=h)).isoformat()} for c in (1, 2, 3) for h in (1, 6)
        ]
        historical = await call(
            client,
            "POST",
            f"{features}/historical",
            202,
            json={"feature_service": "card_features", "entity_rows": entity_rows},
        )
        result = (await finished_job(client, historical))["result"]
        dataset_id = result["dataset_id"]

        run_id = await asyncio.to_thread(train_and_register, served.base, project, dataset_id, result["uri"])

        catalogue = f"/api/v1/projects/{project}"

        async def registered() -> bool:
            return (await client.get(f"{catalogue}/models/scorer/versions/1")).status_code == 200

        await wait_until_async(registered, timeout=60, interval=0.2, message="the catalogue registering scorer v1")
        await call(
            client,
            "POST",
            f"{catalogue}/models/scorer/versions/1/validations",
            201,
            json={"name": "holdout-auc", "status": "passed", "metrics": {"auc": 0.9}},
        )
        for stage in ("validated", "staging", "production"):
            moved = await call(
                client, "POST", f"{catalogue}/models/scorer/versions/1/transitions", 200, json={"to_stage": stage}
            )
            assert moved["status"] == "applied", moved
        deployment = await call(
            client,
            "POST",
            f"{catalogue}/deployments",
            201,
            json={"model": "scorer", "version": 1, "environment": "prod", "target": "https://serving.internal/scorer"},
        )

        provenance = await lineage(
            client,
            f"deployment:{deployment['id']}",
            "upstream",
            {"model_version", "experiment_run", "training_dataset", "feature_service", "feature_view", "data_source"},
        )
        edges = {(e["source"], e["kind"], e["target"]) for e in provenance["edges"]}
        version = f"model_version:{project}/scorer/1"
        dataset = f"training_dataset:{dataset_id}"
        assert (version, "deployed_as", f"deployment:{deployment['id']}") in edges
        assert (f"experiment_run:{run_id}", "registered_as", version) in edges
        assert (dataset, "trained_on", f"experiment_run:{run_id}") in edges
        assert (f"feature_service:{project}/card_features", "read", dataset) in edges
        assert (f"feature_view:{project}/card_stats", "part_of", f"feature_service:{project}/card_features") in edges
        assert (f"data_source:{project}/cards", "read", f"feature_view:{project}/card_stats") in edges

        impact = await lineage(
            client,
            f"feature_view:{project}/card_stats",
            "downstream",
            {"training_dataset", "experiment_run", "model_version", "model", "deployment", "validation_report"},
        )
        reached = {n["id"] for n in impact["nodes"]}
        assert {version, f"model:{project}/scorer", f"deployment:{deployment['id']}"} <= reached
        stage = next(n for n in impact["nodes"] if n["id"] == version)["attributes"]["stage"]
        assert stage == "production"

        # Every OpenLineage event of the flow reached "Marquez" and is valid.
        wanted = {
            "materialize.card_stats",
            "historical_retrieval.card_features",
            "train.",
            "validate.scorer",
            "deploy.",
        }
        logged: list[dict[str, Any]] = []

        async def all_emitted() -> bool:
            nonlocal logged
            logged = (
                await call(client, "GET", "/api/v1/lineage/events", 200, params={"project": project, "limit": 100})
            )["items"]
            names = {item["job_name"] for item in logged}
            return all(any(n.startswith(w) for n in names) for w in wanted) and all(
                item["status"] == "emitted" for item in logged
            )

        await wait_until_async(
            all_emitted,
            timeout=60,
            interval=0.2,
            message=lambda: f"OpenLineage events all emitted: {[(i['job_name'], i['status']) for i in logged]}",
        )

    sent = [e for e in served.marquez.events if e["job"]["namespace"] == f"mlplatform/{project}"]
    assert len(sent) == len(logged)
    for event in sent:
        validate_run_event(event)
    training = [e for e in sent if e["job"]["name"] == f"train.{project}/card-fraud"]
    assert {e["eventType"] for e in training} >= {"START", "COMPLETE"}
    inputs = {(d["namespace"], d["name"]): d for e in training for d in e.get("inputs", [])}
    parquet = (
        "file",
        str(served.data_dir.resolve() / "objects" / "features" / project / "datasets" / f"{dataset_id}.parquet"),
    )
    assert parquet in inputs
    # The MLflow dataset input named the same dataset: one input, carrying MLflow's digest.
    assert len([key for key in inputs if key[1].endswith(".parquet")]) == 1
    assert inputs[parquet]["facets"]["version"]["datasetVersion"]
    outputs = [d for e in training for d in e.get("outputs", [])]
    assert any(
        d["name"] == "models/scorer/versions/1" and d["facets"]["datasetType"]["datasetType"] == "MODEL"
        for d in outputs
    )
