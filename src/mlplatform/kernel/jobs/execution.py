"""Running one attempt of a job: claim the record, run the function, keep the heartbeat, record the end.

Shared by both backends (SAQ worker, in-process tasks), so a job behaves the same wherever it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

import msgspec
import structlog
from sqlalchemy import select, update

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import PlatformError, Unavailable
from mlplatform.kernel.jobs.context import JobCancelled, JobContext
from mlplatform.kernel.jobs.failures import publish_failed_by_id
from mlplatform.kernel.jobs.model import JobStatus, KernelJob
from mlplatform.kernel.jobs.registry import JobRegistry
from mlplatform.kernel.request_ids import current_actor, current_request_id

log = structlog.get_logger("mlplatform.jobs")

MONITOR_INTERVAL_SECONDS = 1.0
"""How often a running job writes its progress and heartbeat and checks for cancellation."""


class Outcome(Enum):
    FINISHED = "finished"
    """A terminal status was recorded (succeeded, failed or cancelled)."""
    RETRY = "retry"
    """The attempt failed transiently and attempts remain: the record is back to `queued`."""
    SKIPPED = "skipped"
    """Nothing to run: the job is gone, finished, cancelled or being run by someone else."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _short(text: str, limit: int = 500) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class JobExecutor:
    """Runs attempts of jobs registered in `registry` against the platform's database."""

    def __init__(self, platform: PlatformContext, registry: JobRegistry, *, worker: str | None = None) -> None:
        self.platform = platform
        self.registry = registry
        self.worker = worker or worker_name()

    async def run(self, job_id: uuid.UUID, *, touch: Callable[[], Awaitable[None]] | None = None) -> Outcome:
        """Run one attempt. `touch` is called with each heartbeat (SAQ uses it to keep the job alive)."""
        record = await self._claim(job_id)
        if record is None:
            return Outcome.SKIPPED
        definition = self.registry.get(record.kind)
        if definition is None:
            await self._finish(
                job_id,
                record.attempts,
                JobStatus.FAILED,
                error=f"no job function is registered for kind {record.kind!r} in worker {self.worker}",
            )
            return Outcome.FINISHED
        context = JobContext(
            job_id=record.id,
            kind=record.kind,
            project=record.project,
            params=dict(record.params or {}),
            created_by=record.created_by,
            attempt=record.attempts,
            platform=self.platform,
        )
        actor_token = current_actor.set(record.created_by)
        request_token = current_request_id.set(record.request_id)
        task = asyncio.ensure_future(definition.function(context))
        monitor = asyncio.ensure_future(self._monitor(context, task, touch))
        attempt = record.attempts
        try:
            async with asyncio.timeout(record.timeout_seconds):
                result = await asyncio.shield(task)
        except (JobCancelled, asyncio.CancelledError) as exc:
            current = asyncio.current_task()
            from_outside = isinstance(exc, asyncio.CancelledError) and current is not None and current.cancelling() > 0
            task.cancel()
            await _settle(task)
            if context.cancel_requested or isinstance(exc, JobCancelled) or await self._cancel_requested(job_id):
                await self._finish(job_id, attempt, JobStatus.CANCELLED, error="cancelled", context=context)
                if from_outside:
                    raise
                return Outcome.FINISHED
            if not from_outside:  # the monitor found the job taken over by someone else
                return Outcome.SKIPPED
            # Interrupted from outside (worker shutting down): hand the job back.
            await self._requeue_or_fail(record, context, "interrupted: the worker stopped during the attempt")
            raise
        except TimeoutError:
            task.cancel()
            await _settle(task)
            await self._finish(
                job_id, attempt, JobStatus.FAILED, error=f"timed out after {record.timeout_seconds} s", context=context
            )
            return Outcome.FINISHED
        except PlatformError as exc:
            if isinstance(exc, Unavailable):  # a dependency is down: worth another attempt later
                return await self._requeue_or_fail(record, context, f"{exc.component} unavailable: {exc.detail}")
            await self._finish(job_id, attempt, JobStatus.FAILED, error=_short(exc.detail, 4000), context=context)
            return Outcome.FINISHED
        except Exception as exc:
            log.warning("job_attempt_failed", job_id=str(job_id), kind=record.kind, attempt=attempt, exc_info=True)
            error = _short(f"{type(exc).__name__}: {exc}", 4000)
            return await self._requeue_or_fail(record, context, error)
        finally:
            monitor.cancel()
            await _settle(monitor)
            current_actor.reset(actor_token)
            current_request_id.reset(request_token)
        await self._finish(job_id, attempt, JobStatus.SUCCEEDED, result=_jsonable(result), context=context)
        return Outcome.FINISHED

    async def _cancel_requested(self, job_id: uuid.UUID) -> bool:
        try:
            async with self.platform.database.transaction() as session:
                return bool(await session.scalar(select(KernelJob.cancel_requested).where(KernelJob.id == job_id)))
        except Exception:
            return False

    async def _claim(self, job_id: uuid.UUID) -> KernelJob | None:
        now = utcnow()
        async with self.platform.database.transaction() as session:
            claimed = await session.execute(
                update(KernelJob)
                .where(KernelJob.id == job_id, KernelJob.status == JobStatus.QUEUED.value)
                .where(KernelJob.cancel_requested.is_(False))
                .values(
                    status=JobStatus.RUNNING.value,
                    attempts=KernelJob.attempts + 1,
                    heartbeat_at=now,
                    started_at=now,
                    finished_at=None,
                    worker=self.worker,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return None
            record = await session.scalar(select(KernelJob).where(KernelJob.id == job_id))
        log.info("job_started", job_id=str(job_id), kind=record.kind if record else None)
        return record

    async def _monitor(
        self,
        context: JobContext,
        task: asyncio.Future[Any],
        touch: Callable[[], Awaitable[None]] | None,
    ) -> None:
        """Write progress + heartbeat; stop the task when cancelled or when the job was taken away."""
        while not task.done():
            await asyncio.sleep(MONITOR_INTERVAL_SECONDS)
            try:
                async with self.platform.database.transaction() as session:
                    await session.execute(
                        update(KernelJob)
                        .where(KernelJob.id == context.job_id, KernelJob.status == JobStatus.RUNNING.value)
                        .where(KernelJob.worker == self.worker, KernelJob.attempts == context.attempt)
                        .values(
                            progress=context.progress,
                            message=context.message,
                            heartbeat_at=utcnow(),
                            updated_at=utcnow(),
                        )
                        .execution_options(synchronize_session=False)
                    )
                    row = (
                        await session.execute(
                            select(
                                KernelJob.status, KernelJob.cancel_requested, KernelJob.worker, KernelJob.attempts
                            ).where(KernelJob.id == context.job_id)
                        )
                    ).one_or_none()
                if touch is not None:
                    await touch()
            except Exception:  # a blip of the database or Redis must not kill the job
                log.warning("job_heartbeat_failed", job_id=str(context.job_id), exc_info=True)
                continue
            owned = (
                row is not None
                and row.status == JobStatus.RUNNING.value
                and row.worker == self.worker
                and row.attempts == context.attempt
            )
            if row is not None and row.cancel_requested:
                context.cancel_requested = True
                task.cancel()
                return
            if not owned:
                log.warning("job_lost_lease", job_id=str(context.job_id))
                context.cancel_requested = True
                task.cancel()
                return

    async def _requeue_or_fail(self, record: KernelJob, context: JobContext, error: str) -> Outcome:
        if record.attempts < record.max_attempts:
            await self._finish(record.id, record.attempts, JobStatus.QUEUED, error=error, context=context)
            return Outcome.RETRY
        await self._finish(
            record.id,
            record.attempts,
            JobStatus.FAILED,
            error=f"{error}\n(after {record.attempts} attempts)",
            context=context,
        )
        return Outcome.FINISHED

    async def _finish(
        self,
        job_id: uuid.UUID,
        attempt: int,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        context: JobContext | None = None,
    ) -> None:
        now = utcnow()
        values: dict[str, Any] = {"status": status.value, "updated_at": now, "error": error}
        if status is JobStatus.QUEUED:
            values.update(message=_short(f"retrying after: {error.splitlines()[0] if error else 'error'}"))
        else:
            values.update(finished_at=now)
        if status is JobStatus.SUCCEEDED:
            values.update(result=result, progress=1.0)
        if context is not None and status is not JobStatus.QUEUED:
            values.setdefault("message", context.message)
            if status is not JobStatus.SUCCEEDED:
                values["progress"] = context.progress
        async with self.platform.database.transaction() as session:
            ended = await session.execute(
                update(KernelJob)
                .where(KernelJob.id == job_id, KernelJob.status == JobStatus.RUNNING.value)
                .where(KernelJob.worker == self.worker, KernelJob.attempts == attempt)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            # Only the update that ended the attempt announces it: a lost lease (rowcount 0) stays silent.
            if status is JobStatus.FAILED and getattr(ended, "rowcount", 0) == 1:
                await publish_failed_by_id(session, job_id, error or "failed")
        log.info("job_" + status.value, job_id=str(job_id))


async def _settle(task: asyncio.Future[Any]) -> None:
    with contextlib.suppress(BaseException):
        await task


def _jsonable(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    plain = msgspec.to_builtins(result)
    if not isinstance(plain, dict):
        return {"value": plain}
    return plain
