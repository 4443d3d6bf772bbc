"""`mlplatform worker` as a real process: SIGKILL it mid-job and the job is retried elsewhere or failed.

Uses the full stack (PostgreSQL, Redis, S3 via moto). Jobs are submitted from the test process
through the same runtime the API uses; only the worker runs them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mlplatform.kernel.context import PlatformContext, build_context
from mlplatform.kernel.jobs import JobRuntime, KernelJob, jobs_runtime
from mlplatform.kernel.jobs.builtin import SELFTEST_KIND
from mlplatform.settings import Settings
from tests.support.served import start_worker, stop_worker, worker_env
from tests.support.wait import wait_until_async


class Workers:
    def __init__(self, settings: Settings, logs: Path) -> None:
        self.env = worker_env(settings)
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        process = start_worker(self.env, self.logs / f"worker-{len(self.processes)}.log", "--sweep-seconds", "2")
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            stop_worker(process, timeout=20)

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("worker-*.log")))


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(settings, tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[JobRuntime]:
    platform = build_context(settings)
    runtime = jobs_runtime(platform)
    await runtime.start()
    yield runtime
    await runtime.stop()
    await platform.close()


async def submit(runtime: JobRuntime, **kwargs: object) -> uuid.UUID:
    async with runtime.platform.database.transaction() as session:
        job = await runtime.submit(session, kind=SELFTEST_KIND, **kwargs)  # type: ignore[arg-type]
        return job.id


async def load(platform: PlatformContext, job_id: uuid.UUID) -> KernelJob:
    async with platform.database.transaction() as session:
        job = await session.scalar(select(KernelJob).where(KernelJob.id == job_id))
        assert job is not None
        return job


async def wait_until(
    platform: PlatformContext, job_id: uuid.UUID, check: Callable[[KernelJob], bool], seconds: float, pool: Workers
) -> KernelJob:
    job: KernelJob | None = None

    async def arrived() -> KernelJob | None:
        nonlocal job
        job = await load(platform, job_id)
        return job if check(job) else None

    def report() -> str:
        state = f"{job.status} {job.message} {job.error}" if job else "no job"
        return f"{state}\n--- worker logs ---\n{pool.output()}"

    return await wait_until_async(arrived, timeout=seconds, interval=0.2, message=report)


async def test_killed_worker_job_is_retried_or_failed(runtime: JobRuntime, workers: Workers) -> None:
    first = workers.start()
    retried = await submit(runtime, params={"seconds": 5}, max_attempts=2, heartbeat_seconds=2)
    doomed = await submit(runtime, params={"seconds": 5}, max_attempts=1, heartbeat_seconds=2)
    for job_id in (retried, doomed):
        running = await wait_until(
            runtime.platform, job_id, lambda j: j.status == "running" and j.progress > 0, 60, workers
        )
        assert running.worker is not None
        assert running.worker.endswith(f":{first.pid}")

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    second = workers.start()

    done = await wait_until(runtime.platform, retried, lambda j: j.status == "succeeded", 60, workers)
    assert done.attempts == 2
    assert done.worker is not None
    assert done.worker.endswith(f":{second.pid}")
    assert done.result is not None
    assert done.result["attempt"] == 2

    failed = await wait_until(runtime.platform, doomed, lambda j: j.status == "failed", 30, workers)
    assert failed.attempts == 1
    assert failed.error is not None
    assert failed.error.startswith("worker lost: no heartbeat")
    assert f":{first.pid}" in failed.error


async def test_worker_runs_jobs_submitted_before_it_started(runtime: JobRuntime, workers: Workers) -> None:
    job_id = await submit(runtime, params={"seconds": 0.2})
    await runtime.drain()  # handed over to the queue: nothing in this process runs it
    assert (await load(runtime.platform, job_id)).status == "queued"
    workers.start()
    done = await wait_until(runtime.platform, job_id, lambda j: j.status == "succeeded", 60, workers)
    assert done.attempts == 1


def test_worker_refuses_to_start_without_redis(embedded_settings: Settings) -> None:
    env = worker_env(embedded_settings)
    env.pop("MLPLATFORM_REDIS_URL")
    env.pop("MLPLATFORM_S3_ENDPOINT_URL")
    env.pop("MLPLATFORM_STORAGE_URL")
    env.pop("MLPLATFORM_DATABASE_URL")
    result = subprocess.run(
        [sys.executable, "-m", "mlplatform.cli", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "set MLPLATFORM_REDIS_URL" in result.stderr
