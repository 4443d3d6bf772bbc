"""MLflow's server in its own process (the default): forwarded to, streamed through, restarted when it dies."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from mlplatform.modules.experiments.proxy import MlflowProxy
from mlplatform.modules.experiments.runtime import _PROCESS
from mlplatform.modules.experiments.state import experiments_state
from tests.integration.experiments.conftest import Client, Members, call, create_experiment


async def test_mlflow_is_served_by_a_separate_process(mlflow_client: Client, members: Members) -> None:
    await create_experiment(mlflow_client, members)
    app: Any = await experiments_state(mlflow_client.app.state.platform).runtime.app()
    assert isinstance(app, MlflowProxy)
    assert _PROCESS.worker is not None
    assert _PROCESS.worker.alive
    assert _PROCESS.worker.pid != os.getpid()


async def test_an_artifact_streams_through_both_ways(mlflow_client: Client, members: Members) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    created = await call(
        mlflow_client, "POST", "runs/create", members.contributor, json={"experiment_id": experiment_id}
    )
    run = created.json()["run"]["info"]
    payload = os.urandom(3 * 1024 * 1024 + 17)
    relative = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    url = f"/mlflow/api/2.0/mlflow-artifacts/artifacts/{relative}/blobs/data%20file.bin"

    uploaded = await mlflow_client.put(url, headers=members.contributor, content=payload)
    assert uploaded.status_code == 200, uploaded.text
    downloaded = await mlflow_client.get(url, headers=members.contributor)
    assert downloaded.status_code == 200
    assert downloaded.content == payload
    listed = await call(mlflow_client, "GET", f"artifacts/list?run_id={run['run_id']}&path=blobs", members.contributor)
    assert [f["path"] for f in listed.json()["files"]] == ["blobs/data file.bin"]


async def test_a_dead_server_process_answers_503_in_mlflows_shape_then_comes_back(
    mlflow_client: Client, members: Members
) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    worker = _PROCESS.worker
    assert worker is not None
    assert worker.pid is not None
    first_pid, starts = worker.pid, worker.starts
    os.kill(first_pid, signal.SIGKILL)
    while worker.alive:
        await asyncio.sleep(0.05)

    refused = await call(mlflow_client, "GET", f"experiments/get?experiment_id={experiment_id}", members.contributor)
    assert refused.status_code == 503
    assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"

    deadline = time.monotonic() + 120
    while True:
        answer = await call(mlflow_client, "GET", f"experiments/get?experiment_id={experiment_id}", members.contributor)
        if answer.status_code == 200:
            break
        assert answer.status_code == 503, answer.text
        assert time.monotonic() < deadline, "MLflow's server process did not come back"
        await asyncio.sleep(0.2)
    assert answer.json()["experiment"]["experiment_id"] == experiment_id
    assert worker.starts == starts + 1
    assert worker.pid != first_pid


async def test_the_ui_is_served_under_the_mount(mlflow_client: Client, members: Members) -> None:
    page = await mlflow_client.get("/mlflow/", headers=members.viewer)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "static-files/" in page.text


async def test_the_server_process_runs_with_mlflow_telemetry_off(mlflow_client: Client, members: Members) -> None:
    await create_experiment(mlflow_client, members)
    worker = _PROCESS.worker
    assert worker is not None
    assert worker.pid is not None
    with open(f"/proc/{worker.pid}/environ", "rb") as environ:
        variables = dict(item.split(b"=", 1) for item in environ.read().split(b"\0") if b"=" in item)
    assert variables[b"MLFLOW_DISABLE_TELEMETRY"] == b"true"
    assert variables[b"DO_NOT_TRACK"] == b"true"
    # The platform's own process, which imports MLflow to open its stores, has them too.
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert os.environ["DO_NOT_TRACK"] == "true"
