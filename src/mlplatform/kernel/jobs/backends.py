"""The two ways jobs get run: SAQ on Redis (`SaqBackend`) and asyncio tasks in this process (`LocalBackend`),
plus the record-level recovery both rely on (stale attempts back to `queued` or `failed`)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select, update

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.db import utcnow
from mlplatform.kernel.jobs.execution import JobExecutor, Outcome
from mlplatform.kernel.jobs.failures import publish_job_failed
from mlplatform.kernel.jobs.model import JobStatus, KernelJob

log = structlog.get_logger("mlplatform.jobs")

SAQ_FUNCTION = "mlplatform.run_job"
RECONCILE_INTERVAL_SECONDS = 5.0
ORPHAN_GRACE_SECONDS = 30.0
"""A `queued` record the queue does not know about after this long is handed over again."""


def retry_delay(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: 1, 2, 4 ... capped at 60."""
    return float(min(60, 2 ** max(0, attempt - 1)))


def detached_copy(job: KernelJob) -> KernelJob:
    return KernelJob(
        id=job.id,
        queue_key=job.queue_key,
        status=job.status,
        attempts=job.attempts or 0,
        kind=job.kind,
        project=job.project,
        max_attempts=job.max_attempts,
        timeout_seconds=job.timeout_seconds,
        heartbeat_seconds=job.heartbeat_seconds,
    )


async def requeue_stale(platform: PlatformContext, *, grace_seconds: float = 0.0) -> list[KernelJob]:
    """Running records whose heartbeat is older than their `heartbeat_seconds` (+ grace): the
    process running them died. Each goes back to `queued` if attempts remain, else `failed`.
    Returns the re-queued ones so the caller can hand them over again."""
    now = utcnow()
    requeued: list[KernelJob] = []
    async with platform.database.transaction() as session:
        rows = (
            await session.scalars(
                select(KernelJob)
                .where(KernelJob.status == JobStatus.RUNNING.value)
                .where(or_(KernelJob.heartbeat_at.is_(None), KernelJob.heartbeat_at < now - timedelta(seconds=1)))
                .limit(200)
            )
        ).all()
        for job in rows:
            last = job.heartbeat_at or job.started_at or job.created_at
            silent = (now - last).total_seconds()
            if silent <= job.heartbeat_seconds + grace_seconds:
                continue
            lost = f"worker lost: no heartbeat from {job.worker or 'its worker'} for {int(silent)} s"
            values: dict[str, Any]
            if job.cancel_requested:
                values = {"status": JobStatus.CANCELLED.value, "finished_at": now, "error": "cancelled"}
            elif job.attempts < job.max_attempts:
                values = {"status": JobStatus.QUEUED.value, "message": f"retrying after: {lost}", "error": lost}
            else:
                values = {
                    "status": JobStatus.FAILED.value,
                    "finished_at": now,
                    "error": f"{lost} (after {job.attempts} attempts)",
                }
            result = await session.execute(
                update(KernelJob)
                .where(KernelJob.id == job.id, KernelJob.status == JobStatus.RUNNING.value)
                .where(KernelJob.attempts == job.attempts)
                .values(updated_at=now, **values)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                log.warning("job_worker_lost", job_id=str(job.id), outcome=values["status"])
                if values["status"] == JobStatus.QUEUED.value:
                    requeued.append(detached_copy(job))
                elif values["status"] == JobStatus.FAILED.value:
                    await publish_job_failed(session, job, values["error"])
    return requeued


async def queued_jobs(platform: PlatformContext, *, older_than_seconds: float, limit: int = 100) -> list[KernelJob]:
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    async with platform.database.transaction() as session:
        rows = (
            await session.scalars(
                select(KernelJob)
                .where(KernelJob.status == JobStatus.QUEUED.value, KernelJob.updated_at <= cutoff)
                .order_by(KernelJob.created_at)
                .limit(limit)
            )
        ).all()
        return [detached_copy(job) for job in rows]


class LocalBackend:
    """In-process execution for the embedded default: asyncio tasks, bounded concurrency.

    Also picks up queued jobs written by other processes (e.g. the CLI) and recovers attempts
    whose process died, so nothing stays `running` after a crash.
    """

    name = "in-process"

    def __init__(self, platform: PlatformContext, executor: JobExecutor, *, concurrency: int = 2) -> None:
        self.platform = platform
        self.executor = executor
        self.semaphore = asyncio.Semaphore(concurrency)
        self.running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._poller = asyncio.create_task(self._poll(), name="mlplatform-jobs-local")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(BaseException):
                await self._poller
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def dispatch(self, job: KernelJob, delay: float = 0.0) -> None:
        if job.id in self.running:
            return
        task = asyncio.create_task(self._run(job.id, delay), name=f"job-{job.id}")
        self.running[job.id] = task
        job_id = job.id

        def forget(_task: asyncio.Task[None]) -> None:
            self.running.pop(job_id, None)

        task.add_done_callback(forget)

    async def abort(self, job_id: uuid.UUID) -> None:
        task = self.running.get(job_id)
        if task is not None:
            task.cancel()

    async def _run(self, job_id: uuid.UUID, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        attempt = 0
        while True:
            attempt += 1
            async with self.semaphore:
                try:
                    outcome = await self.executor.run(job_id)
                except asyncio.CancelledError:
                    return
            if outcome is not Outcome.RETRY:
                return
            await asyncio.sleep(retry_delay(attempt))

    async def _poll(self) -> None:
        while True:
            try:
                for job in await requeue_stale(self.platform):
                    await self.dispatch(job)
                for job in await queued_jobs(self.platform, older_than_seconds=1.0):
                    await self.dispatch(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("jobs_poll_failed", exc_info=True)
            await asyncio.sleep(RECONCILE_INTERVAL_SECONDS / 2.5)


class SaqBackend:
    """Delivery through SAQ on Redis. The API process only enqueues; `mlplatform worker` processes run
    the jobs (see `mlplatform.kernel.jobs.worker`)."""

    name = "saq"

    def __init__(self, platform: PlatformContext, executor: JobExecutor) -> None:
        self.platform = platform
        self.executor = executor
        self._queue: Any = None

    @property
    def queue(self) -> Any:
        if self._queue is None:
            from mlplatform.kernel.jobs.saq_queue import platform_queue

            assert self.platform.settings.redis_url is not None
            self._queue = platform_queue(self.platform.settings.redis_url)
        return self._queue

    async def start(self) -> None:
        await self.queue.connect()

    async def stop(self) -> None:
        if self._queue is not None:
            queue, self._queue = self._queue, None
            try:
                await queue.disconnect()
            except Exception:  # Redis already gone: nothing left to release
                log.warning("job_queue_disconnect_failed", exc_info=True)

    async def dispatch(self, job: KernelJob, delay: float = 0.0) -> None:
        """Hand the job over under a fresh key, recorded on the job (only while it is queued)."""
        import time

        from saq import Job

        key = f"{job.id}.{uuid.uuid4().hex[:8]}"
        async with self.platform.database.transaction() as session:
            recorded = await session.execute(
                update(KernelJob)
                .where(KernelJob.id == job.id, KernelJob.status == JobStatus.QUEUED.value)
                .values(queue_key=key)
                .execution_options(synchronize_session=False)
            )
        if getattr(recorded, "rowcount", 0) != 1:
            return  # cancelled or already taken meanwhile
        await self.queue.enqueue(
            Job(
                function=SAQ_FUNCTION,
                kwargs={"job_id": str(job.id)},
                key=key,
                timeout=job.timeout_seconds + 60,
                heartbeat=max(60, 4 * job.heartbeat_seconds),
                retries=1,
                ttl=24 * 3600,
                scheduled=int(time.time() + delay) if delay > 0 else 0,
            )
        )

    async def abort(self, job_id: uuid.UUID) -> None:
        """Drop a cancelled job's pending delivery. A running job is stopped by its own monitor,
        which sees the cancellation in the record within a second and ends the job cleanly."""
        async with self.platform.database.transaction() as session:
            key = await session.scalar(select(KernelJob.queue_key).where(KernelJob.id == job_id))
        if not key:
            return
        saq_job = await self.queue.job(key)
        if saq_job is not None and saq_job.status.value in {"new", "queued"}:
            await self.queue.abort(saq_job, "cancelled")

    async def live(self, queue_key: str | None) -> bool:
        """Whether SAQ still holds a pending or running delivery under `queue_key`."""
        if not queue_key:
            return False
        saq_job = await self.queue.job(queue_key)
        return saq_job is not None and saq_job.status.value in {"new", "queued", "active"}
