"""`mlplatform worker`: a SAQ worker process running the platform's registered job functions.

The worker builds the same app as the server (so every module registers its job functions and
singletons exactly as it does there) and runs its lifespan without serving HTTP. Besides SAQ's own
upkeep it runs a reconciler: an attempt whose worker stopped heartbeating (killed, OOM, machine
gone) is retried or failed from its record, and `queued` records the queue lost (a crash between
commit and enqueue, a flushed Redis) are handed over again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.jobs.backends import (
    ORPHAN_GRACE_SECONDS,
    RECONCILE_INTERVAL_SECONDS,
    SAQ_FUNCTION,
    SaqBackend,
    queued_jobs,
    requeue_stale,
    retry_delay,
)
from mlplatform.kernel.jobs.execution import MONITOR_INTERVAL_SECONDS, Outcome, worker_name
from mlplatform.kernel.jobs.model import JobStatus, KernelJob
from mlplatform.kernel.jobs.runtime import JobRuntime, jobs_runtime
from mlplatform.settings import Settings

log = structlog.get_logger("mlplatform.worker")

STALE_GRACE_SECONDS = 3 * MONITOR_INTERVAL_SECONDS
"""Beyond a job's own `heartbeat_seconds`: slack for a slow heartbeat write before an attempt is declared lost."""


class WorkerUnavailable(RuntimeError):
    """The worker cannot run in this configuration (message says why)."""


class HostApp(Protocol):
    """What the worker needs from the app: its lifespan and its platform context."""

    @property
    def state(self) -> Any: ...

    def lifespan(self) -> contextlib.AbstractAsyncContextManager[None]: ...


def build_saq_worker(
    runtime: JobRuntime, *, concurrency: int, sweep_seconds: int, shutdown_grace_seconds: int = 10
) -> Any:
    """A `saq.Worker` whose single function runs any registered job by its record id."""
    from saq import Worker

    backend = runtime.backend
    if not isinstance(backend, SaqBackend):
        raise WorkerUnavailable(
            "no job queue is configured: set MLPLATFORM_REDIS_URL (on the embedded default jobs run "
            "inside `mlplatform serve`)"
        )
    executor = runtime.executor
    platform = runtime.platform

    async def run_job(ctx: dict[str, Any], *, job_id: str) -> dict[str, Any]:
        saq_job = ctx["job"]
        record_id = uuid.UUID(job_id)

        async def touch() -> None:
            await saq_job.update()

        try:
            outcome = await executor.run(record_id, touch=touch)
        except asyncio.CancelledError:
            # Interrupted (worker stopping): the executor put the record back to `queued` if
            # attempts remain; hand it to another worker now rather than after the orphan grace.
            await asyncio.shield(_redispatch_if_queued(platform, backend, record_id, delay=1.0))
            raise
        if outcome is Outcome.RETRY:
            record = await _load(platform, record_id)
            if record is not None:
                await backend.dispatch(record, delay=retry_delay(record.attempts))
        return {"outcome": outcome.value}

    return Worker(
        backend.queue,
        functions=[(SAQ_FUNCTION, run_job)],
        concurrency=concurrency,
        timers={"sweep": sweep_seconds, "abort": 1, "schedule": 1, "worker_info": 10},
        dequeue_timeout=1.0,
        shutdown_grace_period_s=shutdown_grace_seconds,
        id=worker_name(),
    )


async def _load(platform: PlatformContext, job_id: uuid.UUID) -> KernelJob | None:
    async with platform.database.transaction() as session:
        record = await session.get(KernelJob, job_id)
        if record is not None:
            session.expunge(record)
        return record


async def _redispatch_if_queued(
    platform: PlatformContext, backend: SaqBackend, job_id: uuid.UUID, delay: float
) -> None:
    record = await _load(platform, job_id)
    if record is not None and record.status == JobStatus.QUEUED.value:
        await backend.dispatch(record, delay=delay)


async def reconcile_once(platform: PlatformContext, backend: SaqBackend) -> None:
    """Settle attempts whose worker stopped heartbeating, and re-deliver queued jobs the queue lost."""
    for job in await requeue_stale(platform, grace_seconds=STALE_GRACE_SECONDS):
        await backend.dispatch(job, delay=retry_delay(job.attempts))
    for job in await queued_jobs(platform, older_than_seconds=ORPHAN_GRACE_SECONDS):
        if not await backend.live(job.queue_key):
            log.warning("job_handed_over_again", job_id=str(job.id))
            await backend.dispatch(job)


async def _reconcile_forever(platform: PlatformContext, backend: SaqBackend) -> None:
    while True:
        try:
            await reconcile_once(platform, backend)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("jobs_reconcile_failed", exc_info=True)
        await asyncio.sleep(RECONCILE_INTERVAL_SECONDS)


async def run_worker(
    app_factory: Callable[[Settings], HostApp],
    settings: Settings,
    *,
    concurrency: int = 4,
    sweep_seconds: int = 10,
    grace: int = 10,
) -> None:
    """Run until SIGINT/SIGTERM. Raises `WorkerUnavailable` when no queue is configured."""
    if not settings.redis_url:
        raise WorkerUnavailable(
            "no job queue is configured: set MLPLATFORM_REDIS_URL (on the embedded default jobs run "
            "inside `mlplatform serve`)"
        )
    app = app_factory(settings)
    async with app.lifespan():
        platform: PlatformContext = app.state.platform
        runtime = jobs_runtime(platform)
        await runtime.start()
        worker = build_saq_worker(
            runtime, concurrency=concurrency, sweep_seconds=sweep_seconds, shutdown_grace_seconds=grace
        )
        assert isinstance(runtime.backend, SaqBackend)
        reconciler = asyncio.create_task(_reconcile_forever(platform, runtime.backend))
        log.info("worker_started", kinds=runtime.registry.kinds(), concurrency=concurrency, worker=worker.id)
        try:
            await worker.start()
        finally:
            reconciler.cancel()
            with contextlib.suppress(BaseException):
                await reconciler
            await runtime.stop()
            log.info("worker_stopped", worker=worker.id)


def worker_main(
    settings: Settings,
    app_factory: Callable[[Settings], HostApp],
    *,
    concurrency: int,
    sweep_seconds: int,
    grace: int = 10,
) -> None:
    """Body of `mlplatform worker` (blocking). Raises `WorkerUnavailable` without Redis.

    On SIGTERM running jobs get `grace` seconds to finish; the rest are interrupted and handed back
    to the queue (they restart on another worker)."""
    from mlplatform.kernel.logging import configure_logging

    if not settings.redis_url:
        raise WorkerUnavailable(
            "no job queue is configured: set MLPLATFORM_REDIS_URL (on the embedded default jobs run "
            "inside `mlplatform serve`)"
        )
    configure_logging(settings.log_level, json=settings.log_json)
    asyncio.run(run_worker(app_factory, settings, concurrency=concurrency, sweep_seconds=sweep_seconds, grace=grace))
