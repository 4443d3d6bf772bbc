"""The jobs runtime of one process: the registry, submission, cancellation and the backend that runs jobs.

Backends:
- `SaqBackend` (when Redis is configured): jobs are delivered through a SAQ queue on Redis and run
  by `mlplatform worker` processes; SAQ's heartbeat + sweep retries an attempt whose worker died.
- `LocalBackend` (embedded default): the same job functions run as asyncio tasks in this process;
  stale attempts (the process died) are retried or failed when a process next looks.

Submission is transactional: the record is written in the caller's transaction and handed to the
backend only after that transaction commits, so a rolled-back request never starts a job and a
worker never sees a job whose record is not visible yet. A reconciler covers the crash window
between commit and hand-over.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import Conflict, Invalid, NotFound
from mlplatform.kernel.jobs.backends import LocalBackend, SaqBackend, detached_copy
from mlplatform.kernel.jobs.builtin import register_builtin_jobs
from mlplatform.kernel.jobs.execution import JobExecutor
from mlplatform.kernel.jobs.model import JobStatus, KernelJob
from mlplatform.kernel.jobs.registry import JobRegistry
from mlplatform.kernel.request_ids import current_request_id

log = structlog.get_logger("mlplatform.jobs")


class Backend(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def dispatch(self, job: KernelJob, delay: float = 0.0) -> None: ...

    async def abort(self, job_id: uuid.UUID) -> None: ...


class JobRuntime:
    """One per process, kept in `PlatformContext.runtimes` (see `jobs_runtime`)."""

    def __init__(self, platform: PlatformContext) -> None:
        self.platform = platform
        self.registry = JobRegistry()
        register_builtin_jobs(self.registry)
        self.executor = JobExecutor(platform, self.registry)
        self.backend: Backend = (
            SaqBackend(platform, self.executor)
            if platform.settings.redis_url
            else LocalBackend(platform, self.executor)
        )
        self._started = False
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def started(self) -> bool:
        return self._started

    async def start(self) -> None:
        if not self._started:
            await self.backend.start()
            self._started = True

    async def drain(self, seconds: float = 5.0) -> None:
        """Wait for pending hand-overs (after-commit dispatches) to finish."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=seconds)

    async def stop(self) -> None:
        await self.drain()
        if self._started:
            self._started = False
            await self.backend.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def submit(
        self,
        session: AsyncSession,
        *,
        kind: str,
        params: dict[str, Any] | None = None,
        project: str | None = None,
        created_by: str | None = None,
        max_attempts: int | None = None,
        timeout_seconds: int | None = None,
        heartbeat_seconds: int | None = None,
    ) -> KernelJob:
        """Create a queued job in the caller's transaction; it starts once that transaction commits."""
        definition = self.registry.get(kind)
        if definition is None:
            raise Invalid(f"kind: no job function is registered for {kind!r}", field="kind")
        job = KernelJob(
            id=uuid.uuid4(),
            kind=kind,
            project=project,
            status=JobStatus.QUEUED.value,
            progress=0.0,
            message="queued",
            params=params or {},
            attempts=0,
            max_attempts=max_attempts or definition.max_attempts,
            timeout_seconds=timeout_seconds or definition.timeout_seconds,
            heartbeat_seconds=heartbeat_seconds or definition.heartbeat_seconds,
            cancel_requested=False,
            created_by=created_by,
            request_id=current_request_id.get(),
        )
        session.add(job)
        await session.flush()
        snapshot = detached_copy(job)
        self._after_commit(session, lambda: self.backend.dispatch(snapshot))
        return job

    async def cancel(self, session: AsyncSession, job_id: uuid.UUID) -> KernelJob:
        """Cancel a queued job at once; ask a running one to stop (it ends as `cancelled`)."""
        job = await session.scalar(select(KernelJob).where(KernelJob.id == job_id).with_for_update())
        if job is None:
            raise NotFound(f"job {job_id} not found")
        status = JobStatus(job.status)
        if status.terminal:
            raise Conflict(f"job {job_id} already ended ({status.value})", job_status=status.value)
        job.cancel_requested = True
        if status is JobStatus.QUEUED:
            job.status = JobStatus.CANCELLED.value
            job.finished_at = utcnow()
            job.error = "cancelled"
            job.message = "cancelled before it started"
        else:
            job.message = "cancellation requested"
        await session.flush()
        self._after_commit(session, lambda: self.backend.abort(job_id))
        return job

    def _after_commit(self, session: AsyncSession, action: Callable[[], Awaitable[None]]) -> None:
        loop = asyncio.get_running_loop()
        pending: list[Callable[[], Awaitable[None]]] = session.info.setdefault("kernel_jobs_after_commit", [])
        pending.append(action)
        if session.info.get("kernel_jobs_hooked"):
            return
        session.info["kernel_jobs_hooked"] = True

        def after_commit(sync_session: Any) -> None:
            actions = sync_session.info.pop("kernel_jobs_after_commit", [])
            for queued_action in actions:
                loop.call_soon(self._spawn, queued_action)

        def after_rollback(sync_session: Any) -> None:
            sync_session.info.pop("kernel_jobs_after_commit", None)

        event.listen(session.sync_session, "after_commit", after_commit)
        event.listen(session.sync_session, "after_soft_rollback", lambda s, _previous: after_rollback(s))

    def _spawn(self, action: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            try:
                await action()
            except Exception:
                # The record is committed; the reconciler hands it over again later.
                log.warning("job_handover_failed", exc_info=True)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def jobs_runtime(platform: PlatformContext) -> JobRuntime:
    """This process's jobs runtime (created on first use)."""
    runtime = platform.runtimes.find(JobRuntime)
    if runtime is None:
        runtime = JobRuntime(platform)
        platform.runtimes.add(runtime)
    return runtime
