"""Serving end to end on the embedded default (SQLite, local folders, jobs in-process), over real HTTP.

Features defined and materialized, a training set from the historical API, a model trained on it and logged
with the stock `mlflow` client, validated and promoted through the catalogue, deployed as a *managed*
deployment (no feature service named: lineage says which one its training set came from); then predictions by
entity key with the online features joined in, in MLflow's scoring format, and the refusals: an unknown
entity, a wrong column, too many rows. Retiring the deployment stops its predictions.
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

from tests.support.client_process import in_client_process
from tests.support.factories import unique_name
from tests.support.http_calls import call, finished_job
from tests.support.served import serve
from tests.support.wait import wait_until_async

pytestmark = pytest.mark.e2e

ADMIN_KEY = f"e2e-serving-{uuid.uuid4().hex}"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
FEATURES = ["txn_count", "amount_avg"]
LATEST = {1: (4, 13.0), 2: (9, 75.0), 3: (2, 6.5)}
"""Each card's newest values (what the online store holds after materialization)."""


@dataclass
class Platform:
    base: str
    data_dir: Path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Platform]:
    data_dir = tmp_path / "data"
    env = {
        "MLPLATFORM_DATA_DIR": str(data_dir),
        "MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "MLPLATFORM_LOG_LEVEL": "WARNING",
        "MLPLATFORM_SERVING__RECONCILE_SECONDS": "1",
    }
    with serve(tmp_path, env, log=tmp_path / "serve.log", ready_path="/health/live", timeout=120) as served:
        yield Platform(served.base_url, data_dir)


def write_raw_data(served: Platform, project: str) -> str:
    import pandas as pd

    key = "raw/cards.parquet"
    path = served.data_dir / "objects" / "projects" / project / key
    path.parent.mkdir(parents=True, exist_ok=True)
    old = {1: (3, 12.5), 2: (8, 80.0), 3: (1, 5.0)}
    pd.DataFrame(
        {
            "card_id": pd.Series([1, 2, 3, 1, 2, 3], dtype="int64"),
            "event_timestamp": [T0 + timedelta(hours=h) for h in (0, 0, 0, 5, 5, 5)],
            "txn_count": pd.Series([old[c][0] for c in (1, 2, 3)] + [LATEST[c][0] for c in (1, 2, 3)], dtype="int64"),
            "amount_avg": [old[c][1] for c in (1, 2, 3)] + [LATEST[c][1] for c in (1, 2, 3)],
        }
    ).to_parquet(path, index=False)
    return key


def train_and_log(base: str, key: str, project: str, dataset_id: str, dataset_uri: str) -> list[int]:
    """The data scientist's side, in a fresh process: train on the platform's training set, log and register
    the model with a signature; return what the model predicts for each card's newest values."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    os.environ["MLFLOW_TRACKING_URI"] = f"{base}/mlflow"
    os.environ["MLFLOW_TRACKING_TOKEN"] = key
    mlflow.set_experiment(f"{project}/cards")
    frame = pd.read_parquet(dataset_uri)
    features = frame[FEATURES].astype("float64")
    labels = (frame["amount_avg"] > 50).astype("int64")
    with mlflow.start_run():
        mlflow.log_param("mlplatform.training_dataset", dataset_id)
        model = LogisticRegression().fit(features, labels)
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict(features)),
            input_example=features.head(2),
            registered_model_name=f"{project}.scorer",
        )
    newest = pd.DataFrame([LATEST[c] for c in (1, 2, 3)], columns=FEATURES).astype("float64")
    return [int(p) for p in model.predict(newest)]


async def build_training_set(client: httpx.AsyncClient, served: Platform, project: str) -> dict[str, Any]:
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
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}
    materialization = await call(
        client, "POST", f"{features}/materializations", 202, json={"feature_views": ["card_stats"], **window}
    )
    await finished_job(client, materialization)
    rows = [{"card_id": c, "event_timestamp": (T0 + timedelta(hours=h)).isoformat()} for c in (1, 2, 3) for h in (1, 6)]
    historical = await call(
        client, "POST", f"{features}/historical", 202, json={"feature_service": "card_features", "entity_rows": rows}
    )
    result: dict[str, Any] = (await finished_job(client, historical))["result"]
    return result


async def promote(client: httpx.AsyncClient, project: str) -> None:
    catalogue = f"/api/v1/projects/{project}/models/scorer/versions/1"

    async def registered() -> bool:
        return (await client.get(catalogue)).status_code == 200

    await wait_until_async(registered, timeout=60, interval=0.2, message="the catalogue registering scorer v1")
    for stage in ("validated", "staging", "production"):
        moved = await call(client, "POST", f"{catalogue}/transitions", 200, json={"to_stage": stage})
        assert moved["status"] == "applied", moved


async def deploy(client: httpx.AsyncClient, project: str, **serving: Any) -> dict[str, Any]:
    body = {"model": "scorer", "version": 1, "environment": "prod", "mode": "managed", "serving": serving}
    created: dict[str, Any] = await call(client, "POST", f"/api/v1/projects/{project}/deployments", 201, json=body)
    assert (created["status"], created["mode"]) == ("pending", "managed")

    async def settled() -> dict[str, Any] | None:
        now: dict[str, Any] = await call(client, "GET", f"/api/v1/projects/{project}/deployments/{created['id']}", 200)
        return now if now["status"] != "pending" else None

    done = await wait_until_async(settled, timeout=180, interval=0.3, message="the deployment leaving pending")
    assert done["status"] == "active", done
    return done


async def test_a_managed_deployment_predicts_with_online_features_joined(served: Platform) -> None:
    project = unique_name("serve", 6)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=served.base, headers=headers, timeout=120) as client:
        await call(client, "POST", "/api/v1/projects", 201, json={"name": project})
        dataset = await build_training_set(client, served, project)
        expected = await asyncio.to_thread(
            in_client_process, train_and_log, served.base, ADMIN_KEY, project, dataset["dataset_id"], dataset["uri"]
        )
        await promote(client, project)
        deployment = await deploy(client, project, max_rows=5)
        predict = f"/api/v1/projects/{project}/models/scorer/predict"

        answer = await call(client, "POST", predict, 200, json={"entities": {"card_id": [1, 2, 3]}})
        assert answer["predictions"] == expected
        assert (answer["version"], answer["deployment_id"]) == (1, deployment["id"])
        assert answer["features"]["names"] == FEATURES
        assert answer["features"]["statuses"] == [["PRESENT", "PRESENT"]] * 3

        split = {"columns": FEATURES, "data": [list(LATEST[c]) for c in (1, 2, 3)]}
        by_values = await call(client, "POST", predict, 200, json={"dataframe_split": split})
        assert by_values["predictions"] == expected
        one = await call(
            client,
            "POST",
            f"/api/v1/projects/{project}/deployments/{deployment['id']}/predict",
            200,
            json={"dataframe_records": [dict(zip(FEATURES, LATEST[2], strict=True))]},
        )
        assert one["predictions"] == expected[1:2]

        unknown = await client.post(predict, json={"entities": {"card_id": [1, 999]}})
        assert unknown.status_code == 422, unknown.text
        assert unknown.headers["content-type"].startswith("application/problem+json")
        assert "card_id=999" in unknown.json()["detail"]
        assert unknown.json()["feature"] in FEATURES

        wrong = await client.post(predict, json={"dataframe_split": {"columns": ["nope"], "data": [[1.0]]}})
        assert wrong.status_code == 422, wrong.text
        assert "txn_count" in wrong.json()["detail"] or "nope" in wrong.json()["detail"]

        many = await client.post(predict, json={"entities": {"card_id": [1, 2, 3, 1, 2, 3]}})
        assert many.status_code == 413, many.text

        elsewhere = await client.post(predict, params={"environment": "staging"}, json={"entities": {"card_id": [1]}})
        assert elsewhere.status_code == 404, elsewhere.text

        metrics = (await client.get("/metrics")).text
        assert f'deployment="{deployment["id"]}"' in metrics
        assert "mlplatform_serving_predictions_total" in metrics

        await call(
            client,
            "PATCH",
            f"/api/v1/projects/{project}/deployments/{deployment['id']}",
            200,
            json={"status": "retired"},
        )

        async def gone() -> bool:
            return (await client.post(predict, json={"entities": {"card_id": [1]}})).status_code == 404

        await wait_until_async(gone, timeout=30, interval=0.2, message="predictions stopping after retirement")
