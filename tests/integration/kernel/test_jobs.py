"""The jobs runtime on both backends: in-process tasks (embedded default) and SAQ on Redis (+ PostgreSQL).

The SAQ tests run a real `saq.Worker` inside the test's event loop (the same code `mlplatform worker`
runs); killing a worker process is covered in `test_jobs_worker_process.py`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from mlplatform.kernel.context import PlatformContext, build_context
from mlplatform.kernel.db import utcnow
from mlplatform.kernel.events.model import OutboxEvent
from mlplatform.kernel.jobs import JobContext, JobDefinition, JobRuntime, KernelJob, jobs_runtime
from mlplatform.kernel.jobs.backends import LocalBackend, SaqBackend
from mlplatform.kernel.jobs.builtin import SELFTEST_KIND
from mlplatform.kernel.jobs.worker import build_saq_worker
from mlplatform.kernel.migrations import upgrade
from mlplatform.settings import Settings
from tests.support.wait import wait_until_async


async def _started(settings: Settings) -> AsyncIterator[JobRuntime]:
    """A platform context with a started jobs runtime (no HTTP app: the test's loop owns everything)."""
    if not settings.uses_postgres:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(upgrade, settings.resolved_database_url)
    platform = build_context(settings)
    runtime = jobs_runtime(platform)
    runtime.registry.register(JobDefinition(kind="test.echo", function=echo, max_attempts=2))
    runtime.registry.register(JobDefinition(kind="test.block", function=block, heartbeat_seconds=2))
    runtime.registry.register(JobDefinition(kind="test.sleep", function=sleep, max_attempts=3))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        await platform.close()


async def echo(ctx: JobContext) -> dict[str, Any]:
    ctx.report(0.5, "halfway")
    return {"echo": ctx.params, "project": ctx.project, "by": ctx.created_by}


async def block(ctx: JobContext) -> dict[str, Any]:
    """Runs in a worker thread until cancelled, reporting progress (as Feast-backed jobs do)."""

    def work() -> None:
        for step in range(600):
            ctx.report(step / 600, f"step {step}")
            import time

            time.sleep(0.05)

    await asyncio.to_thread(work)
    return {"finished": True}


async def sleep(ctx: JobContext) -> dict[str, Any]:
    """Cancellable on the event loop (no thread left behind when a time-out stops it)."""
    await asyncio.sleep(float(ctx.params.get("seconds", 30)))
    return {"slept": True}


@pytest.fixture
async def local_runtime(embedded_settings: Settings) -> AsyncIterator[JobRuntime]:
    async for runtime in _started(embedded_settings):
        yield runtime


@pytest.fixture
async def saq_runtime(settings: Settings) -> AsyncIterator[JobRuntime]:
    async for runtime in _started(settings):
        worker = build_saq_worker(runtime, concurrency=2, sweep_seconds=5, shutdown_grace_seconds=1)
        task = asyncio.create_task(worker.start())
        try:
            yield runtime
        finally:
            await worker.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@pytest.fixture(params=["local_runtime", "saq_runtime"])
def runtime(request: pytest.FixtureRequest) -> JobRuntime:
    runtime: JobRuntime = request.getfixturevalue(request.param)
    return runtime


async def submit(runtime: JobRuntime, kind: str, **kwargs: Any) -> uuid.UUID:
    async with runtime.platform.database.transaction() as session:
        job = await runtime.submit(session, kind=kind, **kwargs)
        return job.id


async def load(platform: PlatformContext, job_id: uuid.UUID) -> KernelJob:
    async with platform.database.transaction() as session:
        job = await session.scalar(select(KernelJob).where(KernelJob.id == job_id))
        assert job is not None
        return job


async def wait_for(
    platform: PlatformContext, job_id: uuid.UUID, until: Callable[[KernelJob], bool], seconds: float = 30
) -> KernelJob:
    job: KernelJob | None = None

    async def arrived() -> KernelJob | None:
        nonlocal job
        job = await load(platform, job_id)
        return job if until(job) else None

    return await wait_until_async(
        arrived,
        timeout=seconds,
        interval=0.1,
        message=lambda: f"job getting there: {job.status} {job.message} {job.error}" if job else "job",
    )


def ended(job: KernelJob) -> bool:
    return job.status in {"succeeded", "failed", "cancelled"}


async def job_failed_events(platform: PlatformContext, job_id: uuid.UUID) -> list[OutboxEvent]:
    async with platform.database.transaction() as session:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.event_type == "JobFailed", OutboxEvent.aggregate_id == str(job_id))
            .order_by(OutboxEvent.seq)
        )
        return list(rows.all())


async def test_job_runs_to_success_with_result(runtime: JobRuntime) -> None:
    job_id = await submit(runtime, "test.echo", params={"n": 1}, project="p1", created_by="user:ann")
    job = await wait_for(runtime.platform, job_id, ended)
    assert job.status == "succeeded", job.error
    assert job.result == {"echo": {"n": 1}, "project": "p1", "by": "user:ann"}
    assert job.progress == 1.0
    assert job.attempts == 1
    assert job.started_at is not None
    assert job.finished_at is not None
    assert job.finished_at >= job.started_at
    assert job.worker
    assert await job_failed_events(runtime.platform, job_id) == []


async def test_progress_is_visible_while_running(runtime: JobRuntime) -> None:
    job_id = await submit(runtime, SELFTEST_KIND, params={"seconds": 3})
    running = await wait_for(runtime.platform, job_id, lambda j: j.status == "running" and 0 < j.progress < 1)
    assert running.message
    assert running.message.startswith("step")
    assert running.heartbeat_at is not None
    done = await wait_for(runtime.platform, job_id, ended)
    assert done.status == "succeeded"
    assert done.result is not None
    assert done.result["slept_seconds"] >= 2.5


async def test_transient_failure_is_retried(runtime: JobRuntime) -> None:
    job_id = await submit(runtime, SELFTEST_KIND, params={"seconds": 0.4, "fail_attempts": 1})
    job = await wait_for(runtime.platform, job_id, ended)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    assert job.result == {"slept_seconds": pytest.approx(0.4, abs=0.5), "attempt": 2}


async def test_failures_beyond_max_attempts_fail_the_job(runtime: JobRuntime) -> None:
    job_id = await submit(runtime, SELFTEST_KIND, params={"seconds": 0.2, "fail_attempts": 9}, max_attempts=2)
    job = await wait_for(runtime.platform, job_id, ended)
    assert job.status == "failed"
    assert job.attempts == 2
    assert job.error is not None
    assert "simulated failure in attempt 2" in job.error


async def test_invalid_input_fails_at_once_without_retry(runtime: JobRuntime) -> None:
    job_id = await submit(runtime, SELFTEST_KIND, params={"seconds": -5})
    job = await wait_for(runtime.platform, job_id, ended)
    assert job.status == "failed"
    assert job.attempts == 1
    assert job.error == "seconds: must be a number between 0 and 3600"


async def test_cancel_running_job_stops_blocking_work(runtime: JobRuntime) -> None:
    job_id = await submit(runtime, "test.block")
    await wait_for(runtime.platform, job_id, lambda j: j.status == "running" and j.progress > 0)
    async with runtime.platform.database.transaction() as session:
        await runtime.cancel(session, job_id)
    job = await wait_for(runtime.platform, job_id, ended, seconds=15)
    assert job.status == "cancelled"
    assert job.cancel_requested
    assert 0 < job.progress < 1


async def test_cancel_queued_job_never_runs(local_runtime: JobRuntime) -> None:
    runtime = local_runtime
    async with runtime.platform.database.transaction() as session:
        job = await runtime.submit(session, kind="test.echo")
        await runtime.cancel(session, job.id)
    backend = runtime.backend
    assert isinstance(backend, LocalBackend)

    async def handed_over_and_done() -> bool:
        await runtime.drain()  # the dispatch (and the abort) that the commit queued
        return job.id not in backend.running

    await wait_until_async(handed_over_and_done, timeout=10, message="the cancelled job's dispatch ending")
    stored = await load(runtime.platform, job.id)
    assert stored.status == "cancelled"
    assert stored.attempts == 0


async def test_rolled_back_submission_never_runs(runtime: JobRuntime) -> None:
    job_id = None
    with pytest.raises(RuntimeError):
        async with runtime.platform.database.transaction() as session:
            job = await runtime.submit(session, kind="test.echo")
            job_id = job.id
            raise RuntimeError("the request failed after submitting")
    await runtime.drain()  # a dispatch queued by mistake would have been handed over by now
    async with runtime.platform.database.transaction() as session:
        assert await session.get(KernelJob, job_id) is None


async def test_unknown_kind_is_refused(local_runtime: JobRuntime) -> None:
    runtime = local_runtime
    from mlplatform.kernel.errors import Invalid

    with pytest.raises(Invalid, match="no job function is registered"):
        await submit(runtime, "nobody.knows")


async def test_stale_running_job_from_a_dead_process_is_retried(local_runtime: JobRuntime) -> None:
    runtime = local_runtime
    """A record left `running` by a process that died (no heartbeat) is picked up again."""
    assert isinstance(runtime.backend, LocalBackend)
    long_ago = utcnow() - timedelta(minutes=5)
    async with runtime.platform.database.transaction() as session:
        job = KernelJob(
            kind="test.echo",
            status="running",
            attempts=1,
            max_attempts=2,
            heartbeat_seconds=5,
            params={"recovered": True},
            worker="gone-host:1",
            started_at=long_ago,
            heartbeat_at=long_ago,
        )
        session.add(job)
    done = await wait_for(runtime.platform, job.id, ended, seconds=20)
    assert done.status == "succeeded"
    assert done.attempts == 2
    assert done.result is not None
    assert done.result["echo"] == {"recovered": True}


async def test_stale_running_job_without_attempts_left_fails(local_runtime: JobRuntime) -> None:
    runtime = local_runtime
    long_ago = utcnow() - timedelta(minutes=5)
    async with runtime.platform.database.transaction() as session:
        job = KernelJob(
            kind="test.echo",
            status="running",
            attempts=2,
            max_attempts=2,
            heartbeat_seconds=5,
            params={"lost": True},
            project="p2",
            created_by="user:bob",
            worker="gone-host:1",
            started_at=long_ago,
            heartbeat_at=long_ago,
        )
        session.add(job)
    done = await wait_for(runtime.platform, job.id, ended, seconds=20)
    assert done.status == "failed"
    assert done.error is not None
    assert done.error.startswith("worker lost: no heartbeat from gone-host:1")
    [event] = await job_failed_events(runtime.platform, job.id)
    assert event.payload["error"] == done.error
    assert event.payload["attempts"] == 2
    assert event.payload["params"] == {"lost": True}
    assert event.payload["kind"] == "test.echo"
    assert event.project == "p2"
    assert event.actor == "user:bob"


async def test_saq_backend_is_used_with_redis(saq_runtime: JobRuntime) -> None:
    runtime = saq_runtime
    assert isinstance(runtime.backend, SaqBackend)
    job_id = await submit(runtime, "test.echo")
    job = await wait_for(runtime.platform, job_id, ended)
    assert job.queue_key is not None
    assert job.queue_key.startswith(str(job_id))
    saq_job = await runtime.backend.queue.job(job.queue_key)
    assert saq_job is not None
    assert saq_job.status.value == "complete"


async def test_failed_job_publishes_one_job_failed_event(runtime: JobRuntime) -> None:
    job_id = await submit(runtime, SELFTEST_KIND, params={"seconds": -5}, project="p1", created_by="user:ann")
    job = await wait_for(runtime.platform, job_id, ended)
    assert job.status == "failed"
    [event] = await job_failed_events(runtime.platform, job_id)
    assert event.aggregate_type == "job"
    assert event.project == "p1"
    assert event.actor == "user:ann"
    payload = event.payload
    assert payload["job_id"] == str(job_id)
    assert payload["kind"] == SELFTEST_KIND
    assert payload["params"] == {"seconds": -5}
    assert payload["error"] == "seconds: must be a number between 0 and 3600"
    assert payload["attempts"] == 1
    assert job.started_at is not None
    assert payload["started_at"] == job.started_at.isoformat()


async def test_retried_then_failed_job_publishes_one_event(runtime: JobRuntime) -> None:
    job_id = await submit(
        runtime, SELFTEST_KIND, params={"seconds": 0.2, "fail_attempts": 9}, project="p1", max_attempts=2
    )
    job = await wait_for(runtime.platform, job_id, ended)
    assert job.status == "failed"
    assert job.attempts == 2
    [event] = await job_failed_events(runtime.platform, job_id)
    assert event.payload["attempts"] == 2
    assert event.payload["params"] == {"seconds": 0.2, "fail_attempts": 9}
    assert "simulated failure in attempt 2" in event.payload["error"]
    assert event.payload["error"] == job.error


async def test_timed_out_job_publishes_one_event(local_runtime: JobRuntime) -> None:
    runtime = local_runtime
    job_id = await submit(runtime, "test.sleep", params={"seconds": 30}, timeout_seconds=1)
    job = await wait_for(runtime.platform, job_id, ended)
    assert job.status == "failed"
    [event] = await job_failed_events(runtime.platform, job_id)
    assert event.payload["error"] == "timed out after 1 s"
    assert event.payload["kind"] == "test.sleep"
    assert event.payload["attempts"] == 1


async def test_succeeded_and_cancelled_jobs_publish_no_job_failed(local_runtime: JobRuntime) -> None:
    runtime = local_runtime
    async with runtime.platform.database.transaction() as session:
        queued = await runtime.submit(session, kind="test.echo")
        await runtime.cancel(session, queued.id)
    running = await submit(runtime, "test.sleep", params={"seconds": 30})
    await wait_for(runtime.platform, running, lambda j: j.status == "running")
    async with runtime.platform.database.transaction() as session:
        await runtime.cancel(session, running)
    assert (await wait_for(runtime.platform, running, ended)).status == "cancelled"
    assert (await load(runtime.platform, queued.id)).status == "cancelled"
    assert await job_failed_events(runtime.platform, running) == []
    assert await job_failed_events(runtime.platform, queued.id) == []
