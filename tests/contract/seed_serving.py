"""The serving fixtures: a managed deployment that answers, so that the serving operations (its workers, its
KServe export, predictions, the Open Inference Protocol's `/v2/models/{name}...`) reach a loaded model.

A small scikit-learn model is logged and registered to the served platform's MLflow with the stock `mlflow`
client, in a spawned process (a data scientist's notebook); the catalogue learns of its version from MLflow,
and a managed deployment of it in `prod` becomes `active` once its model worker answers. It is a model of its
own (`SERVED_MODEL`), not the catalogue fixtures' `scorer`, whose external deployment holds its traffic.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.contract.seed import Seeder

SERVED_MODEL = "fraud"
COLUMNS = ("amount", "hour")
"""The model's signature: two `double` columns."""
ENVIRONMENT = "prod"


def log_model(base_url: str, admin_key: str, project: str, s3_endpoint: str) -> None:
    """The data scientist's side, in a fresh process: train, log and register `<project>.fraud` with a
    signature and an input example."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    os.environ |= {"MLFLOW_TRACKING_URI": f"{base_url}/mlflow", "MLFLOW_TRACKING_TOKEN": admin_key}
    os.environ |= {"MLFLOW_S3_ENDPOINT_URL": s3_endpoint} if s3_endpoint else {}
    mlflow.set_experiment(f"{project}/serving")
    features = pd.DataFrame({"amount": [5.0, 80.0, 12.0, 240.0], "hour": [13.0, 3.0, 9.0, 2.0]})
    labels = pd.Series([0, 1, 0, 1], dtype="int64")
    with mlflow.start_run():
        model = LogisticRegression().fit(features, labels)
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict(features)),
            input_example=features.head(2),
            registered_model_name=f"{project}.{SERVED_MODEL}",
        )


class ModelLogging:
    """`log_model` running in a spawned process while the rest is seeded (it takes a while to import mlflow)."""

    def __init__(self, base_url: str, admin_key: str, project: str, s3_endpoint: str) -> None:
        self.pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
        self.future: Future[None] = self.pool.submit(log_model, base_url, admin_key, project, s3_endpoint)

    def wait(self) -> None:
        try:
            self.future.result(timeout=600)
        finally:
            self.pool.shutdown()


def managed_deployment(seeder: Seeder, project: str, logging: ModelLogging) -> None:
    """Once the model is logged: wait for its catalogue version, deploy it managed and wait for `active`."""
    logging.wait()
    p = f"/api/v1/projects/{project}"
    seeder.eventually(f"{p}/models/{SERVED_MODEL}/versions/1")
    body = {"model": SERVED_MODEL, "version": 1, "environment": ENVIRONMENT, "mode": "managed"}
    created = seeder.call("POST", f"{p}/deployments", 201, json=body)
    deadline = time.monotonic() + 180
    while True:
        deployment = seeder.call("GET", f"{p}/deployments/{created['id']}", 200)
        if deployment["status"] != "pending":
            break
        assert time.monotonic() < deadline, f"seeding: the managed deployment stayed pending: {deployment}"
        time.sleep(0.3)
    assert deployment["status"] == "active", f"seeding: the managed deployment did not load: {deployment}"
    infer = seeder.workdir / "v2-infer.json"
    infer.write_text(json.dumps(V2_REQUEST))
    seeder.keep(
        managed_deployment=created["id"],
        served_model=SERVED_MODEL,
        served_name=f"{project}.{SERVED_MODEL}",
        served_version=1,
        v2_infer_body=infer,
    )


V2_REQUEST = {
    "inputs": [
        {"name": "amount", "shape": [2], "datatype": "FP64", "data": [5.0, 80.0]},
        {"name": "hour", "shape": [2], "datatype": "FP64", "data": [13.0, 3.0]},
    ]
}
"""A v2 inference request of the model's columns (one input per column), the infer operations' positive body."""
