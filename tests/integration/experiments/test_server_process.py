"""MLflow's server in its own process (the default): forwarded to, streamed through, restarted when it dies."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlplatform.modules.experiments.hosting.host import _PROCESS
from mlplatform.modules.experiments.hosting.proxy import UNREACHABLE_LOG_INTERVAL_SECONDS, MlflowProxy
from mlplatform.modules.experiments.runtime import ExperimentsRuntime
from tests.integration.experiments.conftest import Client, Members, call, create_experiment
from tests.support.served import serve
from tests.support.wait import wait_until, wait_until_async


async def test_mlflow_is_served_by_a_separate_process(mlflow_client: Client, members: Members) -> None:
    await create_experiment(mlflow_client, members)
    app: Any = await mlflow_client.app.state.platform.runtimes.get(ExperimentsRuntime).mlflow.app()
    assert isinstance(app, MlflowProxy)
    assert _PROCESS.worker is not None
    assert _PROCESS.worker.alive
    assert _PROCESS.worker.pid != os.getpid()
    # Once serving, every thread of it runs below the platform's priority (experiments.server_niceness).
    threads = os.listdir(f"/proc/{_PROCESS.worker.pid}/task")
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert {os.getpriority(os.PRIO_PROCESS, int(tid)) for tid in threads} == {min(19, mine + 10)}


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

    async def dead() -> bool:
        return not worker.alive

    await wait_until_async(dead, timeout=10, message="the supervisor noticing the killed process")

    refused = await call(mlflow_client, "GET", f"experiments/get?experiment_id={experiment_id}", members.contributor)
    assert refused.status_code == 503
    assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"

    async def back() -> Any:
        answer = await call(mlflow_client, "GET", f"experiments/get?experiment_id={experiment_id}", members.contributor)
        assert answer.status_code in {200, 503}, answer.text
        return answer if answer.status_code == 200 else None

    answer = await wait_until_async(back, timeout=120, interval=0.2, message="MLflow's server process coming back")
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


async def _killed(mlflow_client: Client, members: Members) -> tuple[str, int, int]:
    """Kill -9 the running server process; (an experiment id, its pid, the worker's start count)."""
    experiment_id = await create_experiment(mlflow_client, members)
    worker = _PROCESS.worker
    assert worker is not None
    assert worker.pid is not None
    assert worker.alive
    first_pid, starts = worker.pid, worker.starts
    os.kill(first_pid, signal.SIGKILL)
    return experiment_id, first_pid, starts


async def test_the_supervisor_restarts_a_killed_server_process_without_waiting_for_a_request(
    mlflow_client: Client, members: Members
) -> None:
    _, first_pid, starts = await _killed(mlflow_client, members)
    worker = _PROCESS.worker
    assert worker is not None

    async def restarted() -> bool:  # no request is made meanwhile
        return bool(worker.alive and worker.pid != first_pid)

    async def ready() -> bool:
        return bool(worker.ready)

    await wait_until_async(restarted, timeout=120, message="MLflow's server process restarted")
    await wait_until_async(ready, timeout=120, message="MLflow's new server process ready")
    assert worker.starts == starts + 1


async def test_an_outage_under_retrying_clients_logs_a_bounded_number_of_lines(
    mlflow_client: Client, members: Members, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    experiment_id, first_pid, starts = await _killed(mlflow_client, members)
    killed = time.monotonic()
    caplog.clear()
    worker = _PROCESS.worker
    assert worker is not None
    answers: Counter[int | str] = Counter()
    deadline = time.monotonic() + 120
    while True:  # a client retrying as fast as it can until MLflow answers again
        answer = await call(mlflow_client, "GET", f"experiments/get?experiment_id={experiment_id}", members.contributor)
        answers[answer.status_code] += 1
        if answer.status_code == 200:
            break
        assert answer.status_code == 503, answer.text
        answers["503 with Retry-After"] += "retry-after" in answer.headers
        assert time.monotonic() < deadline, "MLflow's server process did not come back"
    assert answer.json()["experiment"]["experiment_id"] == experiment_id
    assert worker.pid != first_pid
    assert worker.starts == starts + 1
    outage = time.monotonic() - killed
    warnings = [r.getMessage()[:300] for r in caplog.records if r.levelno >= logging.WARNING]
    assert answers[503] > 20, answers  # the outage was seen by many requests ...
    # ... and logged in a few lines: the death, and one "unreachable" line (with a count) per interval.
    assert len(warnings) <= 2 + outage / UNREACHABLE_LOG_INTERVAL_SECONDS, (outage, warnings)
    exits = [r for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "mlflow_worker_exited"]
    assert len(exits) == 1
    assert answers["503 with Retry-After"] == answers[503]


def _server_processes(socket_folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"server_process" in cmdline and str(socket_folder).encode() in cmdline:
                found.append(int(entry.name))
    return found


def test_a_graceful_stop_leaves_no_socket_folder_behind(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    key = "mlp_socketfolder_0123456789abcdef"
    env = {"MLPLATFORM_BOOTSTRAP_ADMIN_KEY": key, "TMPDIR": str(temp)}
    with serve(tmp_path, env=env, timeout=180) as served:
        answer = httpx.get(
            f"{served.base_url}/mlflow/api/2.0/mlflow/experiments/search?max_results=1", auth=("x", key), timeout=180
        )
        assert answer.status_code == 200, answer.text
        (folder,) = temp.glob("mlplatform-mlflow-*")
        assert (folder / "mlflow.sock").exists()
        assert _server_processes(folder)
        served.process.terminate()  # SIGTERM: uvicorn shuts down gracefully
        assert served.process.wait(60) is not None
    wait_until(
        lambda: not (folder.exists() or _server_processes(folder)),
        timeout=30,
        interval=0.1,
        message=lambda: f"nothing left behind: {list(temp.iterdir())}, {_server_processes(folder)}",
    )
