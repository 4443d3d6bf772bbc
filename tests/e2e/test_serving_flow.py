"""Serving end to end over real HTTP, on the stack (PostgreSQL, Redis's online fast path, models and data on S3)
and, for the rollout under load, on the embedded default (SQLite, local folders, jobs in-process).

Features defined and materialized, a training set from the historical API, a model trained on it and logged
with the stock `mlflow` client, validated and promoted through an approval, deployed as a *managed* deployment
(no feature service named: lineage says which one its training set came from); then predictions by entity key
with the online features joined in, MLflow's scoring formats, the Open Inference Protocol v2 through an
unmodified `tritonclient.http`, and the refusals: an unknown entity, a wrong column, too many rows, an
environment with no deployment. Retiring the deployment stops its predictions.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.client_process import in_client_process
from tests.support.factories import unique_name
from tests.support.served import serve, served_env, worker
from tests.support.wait import wait_until

pytestmark = pytest.mark.e2e

ADMIN_KEY = f"e2e-serving-{uuid.uuid4().hex}"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
FEATURES = ["txn_count", "amount_avg"]
OLD = {1: (3, 12.5), 2: (8, 80.0), 3: (1, 5.0)}
LATEST = {1: (4, 13.0), 2: (9, 75.0), 3: (2, 6.5)}
"""Each card's newest values (what the online store holds after materialization)."""


@dataclass
class Platform:
    base: str
    http: httpx.Client


@pytest.fixture(params=["embedded", "stack"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    env = {"MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY, "MLPLATFORM_DATA_DIR": str(tmp_path / "data")}
    if request.param == "stack":
        env = served_env(
            tmp_path / "data",
            database_url=request.getfixturevalue("clean_postgres"),
            redis_url=request.getfixturevalue("clean_redis"),
            s3_endpoint=request.getfixturevalue("s3_endpoint"),
            s3_bucket=request.getfixturevalue("s3_bucket"),
            admin_key=ADMIN_KEY,
        )
    env |= {
        "MLPLATFORM_LOG_LEVEL": "WARNING",
        "MLPLATFORM_SERVING__RECONCILE_SECONDS": "1",
        "MLPLATFORM_SERVING__LOG_FLUSH_SECONDS": "0.5",
    }
    with contextlib.ExitStack() as stack:
        if request.param == "stack":  # jobs run in a worker (the embedded default runs them in-process)
            worker_env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLATFORM_")} | env
            stack.enter_context(worker(worker_env, tmp_path / "worker.log"))
        served = stack.enter_context(
            serve(tmp_path, env, log=tmp_path / "serve.log", ready_path="/health/live", timeout=120)
        )
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with httpx.Client(base_url=served.base_url, headers=headers, timeout=120) as http:
            yield Platform(served.base_url, http)


def call(http: httpx.Client, method: str, path: str, expect: int, **kwargs: Any) -> Any:
    response = http.request(method, path, **kwargs)
    assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def finished_job(http: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        current: dict[str, Any] = call(http, "GET", f"/api/v1/jobs/{job['id']}", 200)
        return current if current["status"] in {"succeeded", "failed", "cancelled"} else None

    current = wait_until(finished, timeout=120, interval=0.2, message=f"job {job['id']} finishing")
    assert current["status"] == "succeeded", current
    return current


def raw_data() -> bytes:
    import pandas as pd

    cards = (1, 2, 3)
    return pd.DataFrame(
        {
            "card_id": pd.Series([*cards, *cards], dtype="int64"),
            "event_timestamp": [T0 + timedelta(hours=h) for h in (0, 0, 0, 5, 5, 5)],
            "txn_count": pd.Series([OLD[c][0] for c in cards] + [LATEST[c][0] for c in cards], dtype="int64"),
            "amount_avg": [OLD[c][1] for c in cards] + [LATEST[c][1] for c in cards],
        }
    ).to_parquet(index=False)


def build_training_set(http: httpx.Client, project: str) -> dict[str, Any]:
    call(http, "PUT", f"/api/v1/projects/{project}/files/raw/cards.parquet", 201, content=raw_data())
    features = f"/api/v1/projects/{project}/features"
    source = {"name": "cards", "kind": "parquet", "path": "raw/cards.parquet", "timestamp_field": "event_timestamp"}
    view = {
        "name": "card_stats",
        "entities": ["card"],
        "features": [{"name": "txn_count", "dtype": "int64"}, {"name": "amount_avg", "dtype": "float64"}],
        "source": "cards",
    }
    for path, body in (
        ("entities", {"name": "card", "join_key": "card_id"}),
        ("data-sources", source),
        ("feature-views", view),
        ("feature-services", {"name": "card_features", "features": ["card_stats"]}),
    ):
        call(http, "POST", f"{features}/{path}", 201, json=body)
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}
    materialization = call(
        http, "POST", f"{features}/materializations", 202, json={"feature_views": ["card_stats"], **window}
    )
    finished_job(http, materialization)
    rows = [{"card_id": c, "event_timestamp": (T0 + timedelta(hours=h)).isoformat()} for c in (1, 2, 3) for h in (1, 6)]
    historical = call(
        http, "POST", f"{features}/historical", 202, json={"feature_service": "card_features", "entity_rows": rows}
    )
    result: dict[str, Any] = finished_job(http, historical)["result"]
    return result


def read_dataset(uri: str) -> Any:
    import pandas as pd

    if not uri.startswith("s3://"):
        return pd.read_parquet(uri)
    import boto3

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
    return pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def train_and_log(
    base: str, key: str, project: str, dataset: dict[str, Any], s3_endpoint: str, constant: int | None = None
) -> list[int]:
    """The data scientist's side, in a fresh process: train on the platform's training set, log and register
    the model with a signature; return what the model predicts for each card's newest values. With
    `constant`, the model always predicts that class (a recognisably different next version)."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    os.environ |= {"MLFLOW_TRACKING_URI": f"{base}/mlflow", "MLFLOW_TRACKING_TOKEN": key}
    os.environ |= {"MLFLOW_S3_ENDPOINT_URL": s3_endpoint} if s3_endpoint else {}
    mlflow.set_experiment(f"{project}/cards")
    frame = read_dataset(dataset["uri"])
    features = frame[FEATURES].astype("float64")
    labels = (frame["amount_avg"] > 50).astype("int64")
    with mlflow.start_run():
        mlflow.log_param("mlplatform.training_dataset", dataset["dataset_id"])
        chosen = LogisticRegression() if constant is None else DummyClassifier(strategy="constant", constant=constant)
        model = chosen.fit(features, labels)
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict(features)),
            input_example=features.head(2),
            registered_model_name=f"{project}.scorer",
        )
    newest = pd.DataFrame([LATEST[c] for c in (1, 2, 3)], columns=FEATURES).astype("float64")
    return [int(p) for p in model.predict(newest)]


def maintainer(http: httpx.Client, project: str) -> dict[str, str]:
    """A second person, a maintainer of the project: approvals come from someone other than the requester."""
    call(http, "POST", "/api/v1/users", 201, json={"name": "lee"})
    call(http, "PUT", f"/api/v1/projects/{project}/members/user:lee", 200, json={"role": "maintainer"})
    key = call(http, "POST", "/api/v1/api-keys", 201, json={"name": "lee", "owner": "user:lee", "project": project})
    return {"Authorization": f"Bearer {key['key']}"}


def promote_through_approval(http: httpx.Client, project: str) -> None:
    model = f"/api/v1/projects/{project}/models/scorer"
    wait_until(
        lambda: http.get(f"{model}/versions/1").status_code == 200,
        timeout=60,
        interval=0.2,
        message="the catalogue registering scorer v1",
    )
    call(http, "PATCH", model, 200, json={"approval_policy": {"production": 1}})
    version = f"{model}/versions/1"
    call(http, "POST", f"{version}/validations", 201, json={"name": "holdout", "status": "passed"})
    for stage in ("validated", "staging"):
        call(http, "POST", f"{version}/transitions", 200, json={"to_stage": stage})
    requested = call(http, "POST", f"{version}/transitions", 202, json={"to_stage": "production"})
    assert requested["status"] == "pending_approval", requested
    approved = call(
        http, "POST", f"{version}/approvals", 201, json={"decision": "approve"}, headers=maintainer(http, project)
    )
    assert approved["version"]["stage"] == "production"


def deploy(http: httpx.Client, project: str, traffic_share: int = 100, **serving: Any) -> dict[str, Any]:
    body = {
        "model": "scorer",
        "version": 1,
        "environment": "prod",
        "mode": "managed",
        "serving": serving,
        "traffic_share": traffic_share,
    }
    created: dict[str, Any] = call(http, "POST", f"/api/v1/projects/{project}/deployments", 201, json=body)
    assert (created["status"], created["mode"]) == ("pending", "managed")

    def settled() -> dict[str, Any] | None:
        now: dict[str, Any] = call(http, "GET", f"/api/v1/projects/{project}/deployments/{created['id']}", 200)
        return now if now["status"] != "pending" else None

    done = wait_until(settled, timeout=180, interval=0.3, message="the deployment leaving pending")
    assert done["status"] == "active", done
    return done


def check_refusals(http: httpx.Client, predict: str) -> None:
    unknown = http.post(predict, json={"entities": {"card_id": [1, 999]}})
    assert unknown.status_code == 422, unknown.text
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert "card_id=999" in unknown.json()["detail"]
    assert unknown.json()["feature"] in FEATURES

    wrong = http.post(predict, json={"dataframe_split": {"columns": ["nope"], "data": [[1.0]]}})
    assert wrong.status_code == 422, wrong.text
    assert "txn_count" in wrong.json()["detail"]

    many = http.post(predict, json={"entities": {"card_id": [1, 2, 3, 1, 2, 3]}})
    assert many.status_code == 413, many.text

    elsewhere = http.post(predict, params={"environment": "staging"}, json={"entities": {"card_id": [1]}})
    assert elsewhere.status_code == 404, elsewhere.text

    # MLflow's client sends NaN for a missing value; this model raises on it. The model's own words come back,
    # and the worker keeps answering.
    nan = '{"dataframe_split": {"columns": ["txn_count", "amount_avg"], "data": [[NaN, 1.0]]}}'
    raised = http.post(predict, content=nan, headers={"Content-Type": "application/json"})
    assert raised.status_code == 422, raised.text
    assert (raised.json()["title"], raised.json()["detail"].split(":")[0]) == ("Model error", "ValueError")
    assert http.post(predict, json={"entities": {"card_id": [1]}}).status_code == 200


def check_open_inference_protocol(base: str, project: str, expected: list[int]) -> None:
    import numpy as np
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    host = base.removeprefix("http://")
    client = triton.InferenceServerClient(host)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    name = f"{project}.scorer"
    assert client.is_server_live()
    assert client.is_model_ready(name, headers=headers)
    metadata = client.get_model_metadata(name, headers=headers)
    assert [(t["name"], t["datatype"]) for t in metadata["inputs"]] == [(f, "FP64") for f in FEATURES]

    rows = np.array([LATEST[c] for c in (1, 2, 3)], dtype=np.float64)
    inputs = []
    for position, feature in enumerate(FEATURES):
        tensor = triton.InferInput(feature, [3], "FP64")
        tensor.set_data_from_numpy(rows[:, position])  # binary tensor data, tritonclient's default
        inputs.append(tensor)
    result = client.infer(name, inputs, headers=headers)
    assert result.as_numpy("predict").tolist() == expected
    versioned = client.infer(name, inputs, model_version="1", headers=headers)
    assert versioned.get_response()["model_version"] == "1"

    with pytest.raises(InferenceServerException, match="no active managed deployment"):
        client.infer(name, inputs, model_version="7", headers=headers)
    with pytest.raises(InferenceServerException):
        client.infer(name, inputs)  # no credentials
    client.close()


@pytest.mark.parametrize("platform", ["stack"], indirect=True)  # the embedded default: the rollout test below
def test_a_managed_deployment_predicts_with_online_features_joined(
    platform: Platform, request: pytest.FixtureRequest
) -> None:
    http, project = platform.http, unique_name("serve", 6)
    call(http, "POST", "/api/v1/projects", 201, json={"name": project})
    dataset = build_training_set(http, project)
    s3_endpoint = request.getfixturevalue("s3_endpoint") if dataset["uri"].startswith("s3://") else ""
    expected = in_client_process(train_and_log, platform.base, ADMIN_KEY, project, dataset, s3_endpoint)
    promote_through_approval(http, project)
    deployment = deploy(http, project, max_rows=5, log_sample_rate=1.0)
    predict = f"/api/v1/projects/{project}/models/scorer/predict"

    answer = call(http, "POST", predict, 200, json={"entities": {"card_id": [1, 2, 3]}})
    assert answer["predictions"] == expected
    assert (answer["version"], answer["deployment_id"]) == (1, deployment["id"])
    assert answer["features"] == {"names": FEATURES, "statuses": [["PRESENT", "PRESENT"]] * 3}

    split = {"columns": FEATURES, "data": [list(LATEST[c]) for c in (1, 2, 3)]}
    assert call(http, "POST", predict, 200, json={"dataframe_split": split})["predictions"] == expected
    records = [dict(zip(FEATURES, LATEST[2], strict=True))]
    one = call(
        http,
        "POST",
        f"/api/v1/projects/{project}/deployments/{deployment['id']}/predict",
        200,
        json={"dataframe_records": records},
    )
    assert one["predictions"] == expected[1:2]

    check_refusals(http, predict)
    check_open_inference_protocol(platform.base, project, expected)
    check_prediction_log(http, project, deployment["id"], predict, expected)

    workers = call(http, "GET", f"/api/v1/projects/{project}/deployments/{deployment['id']}/workers", 200)
    assert (workers["version"], workers["alive"], workers["ready"], workers["restarts"]) == (1, 1, 1, 0)
    assert workers["workers"][0]["rss_mb"] > 50

    exported = http.get(f"/api/v1/projects/{project}/deployments/{deployment['id']}/kserve")
    assert exported.status_code == 200, exported.text
    manifest = yaml.safe_load(exported.text)
    assert (manifest["kind"], manifest["metadata"]["name"]) == ("InferenceService", "scorer-prod")
    model = manifest["spec"]["predictor"]["model"]
    assert (model["modelFormat"]["name"], model["protocolVersion"]) == ("mlflow", "v2")
    assert model["storageUri"].startswith("s3://" if dataset["uri"].startswith("s3://") else "/")

    shadow = deploy(http, project, shadow=True, traffic_share=0)
    for _ in range(5):
        mirrored = call(http, "POST", predict, 200, json={"entities": {"card_id": [1, 2, 3]}})
        assert (mirrored["deployment_id"], mirrored["predictions"]) == (deployment["id"], expected)

    def shadow_answered() -> bool:
        answered = [
            float(line.rsplit(" ", 1)[1])
            for line in http.get("/metrics").text.splitlines()
            if line.startswith("mlplatform_serving_predictions_total{")
            and f'deployment="{shadow["id"]}"' in line
            and 'outcome="ok"' in line
        ]
        return sum(answered) >= 5

    wait_until(shadow_answered, timeout=30, interval=0.2, message="the shadow deployment answering copies")
    metrics = http.get("/metrics").text
    assert f'deployment="{deployment["id"]}"' in metrics
    assert "mlplatform_serving_predictions_total" in metrics

    call(http, "PATCH", f"/api/v1/projects/{project}/deployments/{deployment['id']}", 200, json={"status": "retired"})
    wait_until(
        lambda: http.post(predict, json={"entities": {"card_id": [1]}}).status_code == 404,
        timeout=30,
        interval=0.2,
        message="predictions stopping after retirement",
    )


class Load:
    """Predictions sent back to back from a thread while the deployments change; what each answer was."""

    def __init__(self, base: str, path: str) -> None:
        self.base, self.path = base, path
        self.answers: list[tuple[int, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=30) as http:
            sent = 0
            while not self._stop.is_set():
                sent += 1
                card = sent % 3 + 1
                # Every other request gives the features itself: without an entity key its deployment is drawn
                # by request id, so both deployments get a share (3 cards alone might all hash to one).
                if sent % 2:
                    body: dict[str, Any] = {"entities": {"card_id": [card]}}
                else:
                    body = {"dataframe_records": [dict(zip(FEATURES, LATEST[card], strict=True))]}
                response = http.post(self.path, json=body)
                self.answers.append((response.status_code, response.json()))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def seen(self, key: str) -> set[Any]:
        return {body[key] for status, body in self.answers if status == 200}

    def failures(self) -> list[tuple[int, Any]]:
        return [(status, body) for status, body in self.answers if status != 200]


@pytest.mark.parametrize("platform", ["embedded"], indirect=True)
def test_a_swap_and_a_share_change_under_load_lose_no_request(platform: Platform) -> None:
    http, project = platform.http, unique_name("roll", 6)
    call(http, "POST", "/api/v1/projects", 201, json={"name": project})
    dataset = build_training_set(http, project)
    in_client_process(train_and_log, platform.base, ADMIN_KEY, project, dataset, "")
    version = f"/api/v1/projects/{project}/models/scorer/versions"
    wait_until(lambda: http.get(f"{version}/1").status_code == 200, timeout=60, interval=0.2, message="version 1")
    for stage in ("validated", "staging", "production"):
        call(http, "POST", f"{version}/1/transitions", 200, json={"to_stage": stage})
    following = deploy(http, project, follow_stage=True)
    predict = f"/api/v1/projects/{project}/models/scorer/predict"

    with Load(platform.base, predict) as load:
        wait_until(lambda: len(load.answers) > 20, timeout=30, message="load running")
        in_client_process(train_and_log, platform.base, ADMIN_KEY, project, dataset, "", 1)
        wait_until(lambda: http.get(f"{version}/2").status_code == 200, timeout=60, interval=0.2, message="version 2")
        for stage in ("validated", "staging", "production"):
            call(http, "POST", f"{version}/2/transitions", 200, json={"to_stage": stage})
        wait_until(lambda: 2 in load.seen("version"), timeout=120, interval=0.2, message="version 2 answering")
        moved = call(http, "GET", f"/api/v1/projects/{project}/deployments/{following['id']}", 200)
        assert (moved["version"], moved["status"]) == (2, "active")
        audited = call(http, "GET", "/api/v1/audit-events", 200, params={"project": project, "action": "serving.swap"})
        assert [(e["actor"], e["detail"]) for e in audited["items"]] == [("service:serving", "scorer version 1 -> 2")]

        deployments = f"/api/v1/projects/{project}/deployments"
        call(http, "PATCH", f"{deployments}/{following['id']}", 200, json={"traffic_share": 50})
        second = call(
            http,
            "POST",
            deployments,
            201,
            json={"model": "scorer", "version": 2, "environment": "prod", "mode": "managed", "traffic_share": 50},
        )
        wait_until(
            lambda: second["id"] in load.seen("deployment_id"), timeout=120, interval=0.2, message="the second one"
        )
        call(http, "PATCH", f"{deployments}/{following['id']}", 200, json={"traffic_share": 0})

        def only_second() -> int | None:  # the change reaches the router within serving.reconcile_seconds
            recent = load.answers[-20:]
            return len(load.answers) if {body["deployment_id"] for _, body in recent} == {second["id"]} else None

        mark = wait_until(only_second, timeout=30, interval=0.1, message="the 0 % deployment leaving the rotation")
        wait_until(lambda: len(load.answers) > mark + 50, timeout=30, message="more answers")
    assert load.failures() == []
    assert load.seen("version") == {1, 2}
    assert load.seen("deployment_id") == {following["id"], second["id"]}
    after = {body["deployment_id"] for _, body in load.answers[mark:]}
    assert after == {second["id"]}, "a 0 % share takes no traffic"


def check_prediction_log(http: httpx.Client, project: str, deployment_id: str, predict: str, expected: Any) -> None:
    """Every prediction of a deployment logging at rate 1 reaches its Parquet files, with the joined features;
    labels attach by the request id the client chose, and the two join."""
    import pandas as pd

    answered = http.post(predict, json={"entities": {"card_id": [1, 2, 3]}}, headers={"X-Request-ID": "e2e-log-1"})
    assert answered.status_code == 200, answered.text
    files = f"/api/v1/projects/{project}/files"

    def logged() -> list[pd.DataFrame] | None:  # in a list: a frame has no truth value for wait_until
        listing = call(http, "GET", files, 200, params={"prefix": f"serving/{deployment_id}/predictions/"})
        frames = [pd.read_parquet(io.BytesIO(http.get(f"{files}/{item['path']}").content)) for item in listing["items"]]
        rows = pd.concat(frames) if frames else None
        return [rows] if rows is not None and "e2e-log-1" in set(rows.request_id) else None

    (rows,) = wait_until(logged, timeout=30, interval=0.5, message="the prediction log's file")
    mine = rows[rows.request_id == "e2e-log-1"].sort_values("row")
    assert [json.loads(o) for o in mine.output] == expected
    assert json.loads(mine.features.iloc[0]) == dict.fromkeys(FEATURES, "PRESENT")
    assert json.loads(mine.inputs.iloc[1]) == dict(zip(FEATURES, LATEST[2], strict=True))
    assert set(rows.outcome) >= {"ok", "bad_input"}  # the refusals were logged too

    labels = {"labels": [{"request_id": "e2e-log-1", "row": row, "label": row % 2} for row in range(3)]}
    accepted = call(http, "POST", f"/api/v1/projects/{project}/deployments/{deployment_id}/labels", 202, json=labels)
    label_rows = pd.read_parquet(io.BytesIO(http.get(f"{files}/{accepted['file']}").content))
    joined = mine.merge(label_rows, on=["request_id", "row"])
    assert len(joined) == 3
