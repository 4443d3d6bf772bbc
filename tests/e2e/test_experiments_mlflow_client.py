"""The stock `mlflow` client against a served platform (PostgreSQL, Redis, S3 via moto), over real HTTP.

`MLFLOW_TRACKING_URI=<base>/mlflow` plus `MLFLOW_TRACKING_TOKEN=<API key>` (or USERNAME/PASSWORD with
the key as password): experiments, runs, params, metrics, artifacts (a large one streamed), `log_model`
of a scikit-learn model trained here with `registered_model_name`, aliases, `load_model`, and the
catalogue version that appears without anyone asking for it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlplatform.kernel.db import Database
from mlplatform.modules.catalogue.api import ModelVersionRef, find_model_version
from tests.support.client_process import in_client_process
from tests.support.factories import grant_in, unique_name
from tests.support.served import E2E_ADMIN_KEY, Served, serve
from tests.support.wait import wait_until_async

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


@dataclass
class Platform:
    served: Served
    database: Database
    """The test loop's own pool on the platform's database."""


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
async def platform(clean_postgres: str, stack_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Platform]:
    env = stack_env | {"MLPLATFORM_LOG_LEVEL": "WARNING"}
    database = Database(clean_postgres, pool_size=2)
    try:
        with serve(tmp_path, env, timeout=60, log=tmp_path / "serve.log", ready_path="/health/live") as served:
            yield Platform(served, database)
    finally:
        await database.dispose()


@contextmanager
def mlflow_env(base: str, **credentials: str) -> Iterator[None]:
    """The variables a data scientist sets: the tracking URI, a credential, optionally the experiment."""
    names = (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_EXPERIMENT_NAME",
    )
    saved = {n: os.environ.pop(n, None) for n in names}
    os.environ["MLFLOW_TRACKING_URI"] = f"{base}/mlflow"
    os.environ.update(credentials)
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


def train_and_track(base: str, server_pid: int, project: str, key: str, workdir: Path) -> dict[str, Any]:
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    with mlflow_env(base, MLFLOW_TRACKING_TOKEN=key):
        experiment = mlflow.set_experiment(f"{project}/iris")
        features, labels = load_iris(return_X_y=True)
        notes = workdir / "notes.txt"
        notes.write_text("trained by the e2e test")
        big = workdir / "weights.bin"
        with big.open("wb") as handle:
            for _ in range(64):
                handle.write(os.urandom(MiB))
        with mlflow.start_run() as run:
            mlflow.log_params({"C": 0.5, "max_iter": 300})
            model = LogisticRegression(C=0.5, max_iter=300).fit(features, labels)
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metric("accuracy", float(model.score(features, labels)))
            mlflow.log_artifact(str(notes), artifact_path="docs")
            rss_before = rss_bytes(server_pid)
            mlflow.log_artifact(str(big), artifact_path="weights")
            rss_growth = rss_bytes(server_pid) - rss_before
            mlflow.sklearn.log_model(model, name="model", registered_model_name=f"{project}.iris")
        client = MlflowClient()
        client.set_registered_model_alias(f"{project}.iris", "champion", "1")
        loaded = mlflow.pyfunc.load_model(f"models:/{project}.iris/1")
        by_alias = mlflow.pyfunc.load_model(f"models:/{project}.iris@champion")
        expected = model.predict(features[:10])
        assert np.array_equal(loaded.predict(features[:10]), expected)
        assert np.array_equal(by_alias.predict(features[:10]), expected)
        history = client.get_metric_history(run.info.run_id, "loss")
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        downloaded = Path(client.download_artifacts(run.info.run_id, "docs/notes.txt", str(workdir / "dl")))
        found = client.search_runs([experiment.experiment_id], "metrics.accuracy > 0.9")
        finished = client.get_run(run.info.run_id)
    return {
        "experiment_id": experiment.experiment_id,
        "run_id": run.info.run_id,
        "history": [(m.step, m.value) for m in history],
        "artifacts": artifacts,
        "downloaded": downloaded.read_text(),
        "found": [r.info.run_id for r in found],
        "status": finished.info.status,
        "rss_growth": rss_growth,
    }


def with_basic_auth(base: str, project: str, key: str) -> list[str]:
    import mlflow
    from mlflow import MlflowClient

    # The three variables of docs/experiments.md: tracking URI, a credential, and the experiment (created if missing).
    with mlflow_env(
        base,
        MLFLOW_TRACKING_USERNAME="anyone",
        MLFLOW_TRACKING_PASSWORD=key,
        MLFLOW_EXPERIMENT_NAME=f"{project}/from-env",
    ):
        with mlflow.start_run():
            mlflow.log_metric("accuracy", 0.5)
        return [e.name for e in MlflowClient().search_experiments()]


def viewer_and_anonymous(base: str, run_id: str, viewer_key: str) -> tuple[str, str, str]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    with mlflow_env(base, MLFLOW_TRACKING_TOKEN=viewer_key):
        client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
        status = client.get_run(run_id).info.status
        try:
            client.log_metric(run_id, "sneaky", 1.0)
            denied = "not denied"
        except MlflowException as exc:
            denied = exc.error_code
    with mlflow_env(base):
        client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
        try:
            client.get_run(run_id)
            anonymous = "not denied"
        except MlflowException as exc:
            anonymous = str(exc)
    return status, denied, anonymous


async def test_stock_mlflow_client_end_to_end(platform: Platform, tmp_path: Path) -> None:
    project = unique_name("e2e", 8)
    contributor = (await grant_in(platform.database, project=project, role="contributor"))["Authorization"][7:]
    viewer = (await grant_in(platform.database, project=project, role="viewer"))["Authorization"][7:]

    result = await asyncio.to_thread(
        in_client_process,
        train_and_track,
        platform.served.base_url,
        platform.served.process.pid,
        project,
        contributor,
        tmp_path,
    )
    assert result["status"] == "FINISHED"
    assert result["history"] == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert {"docs", "weights"} <= result["artifacts"]
    assert result["downloaded"] == "trained by the e2e test"
    assert result["found"] == [result["run_id"]]
    # The 64 MiB artifact streamed through the platform: the server did not hold it in memory.
    print(f"server RSS growth during a 64 MiB artifact upload: {result['rss_growth'] / MiB:.1f} MiB")
    assert result["rss_growth"] < 32 * MiB, result["rss_growth"]

    names = await asyncio.to_thread(in_client_process, with_basic_auth, platform.served.base_url, project, contributor)
    assert sorted(names) == [f"{project}/from-env", f"{project}/iris"]

    status, denied, anonymous = await asyncio.to_thread(
        in_client_process, viewer_and_anonymous, platform.served.base_url, result["run_id"], viewer
    )
    assert status == "FINISHED"
    assert denied == "PERMISSION_DENIED"
    assert "401" in anonymous

    # The catalogue learned about the registered version by itself (outbox → catalogue subscriber).
    async def registered() -> ModelVersionRef | None:
        async with platform.database.sessionmaker() as session:
            return await find_model_version(session, project=project, model_name="iris", version=1)

    ref = await wait_until_async(registered, timeout=20, interval=0.1, message="the catalogue registering iris v1")
    assert ref.source_run_id == result["run_id"]
    assert ref.model_uri == f"models:/{project}.iris/1"

    async with httpx.AsyncClient(
        base_url=platform.served.base_url, headers={"Authorization": f"Bearer {E2E_ADMIN_KEY}"}
    ) as admin:
        audit = (await admin.get("/api/v1/audit-events", params={"limit": 500})).json()["items"]
        typed = await admin.get(f"/api/v1/projects/{project}/experiments/{result['experiment_id']}/runs")
    written = [e for e in audit if e["method"] != "GET" and e["outcome"] == "success"]
    assert any("model-versions/create" in e["path"] for e in written)
    assert any("mlflow-artifacts/artifacts" in e["path"] and e["method"] == "PUT" for e in written)
    assert not any(e["path"].rstrip("/").endswith("runs/search") for e in audit)
    assert [r["id"] for r in typed.json()["items"]] == [result["run_id"]]
