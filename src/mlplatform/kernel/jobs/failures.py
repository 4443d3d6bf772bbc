"""Announcing failed jobs: one `JobFailed` per job, written in the transaction that records `failed`.

Callers publish only when their conditional UPDATE actually moved the record from `running` to
`failed` (rowcount 1), so two processes racing to settle the same attempt (a worker finishing late
and the reaper) can never announce it twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.events import publish
from mlplatform.kernel.jobs.events import JobFailed
from mlplatform.kernel.jobs.model import KernelJob
from mlplatform.kernel.request_ids import current_actor, current_request_id


class FailedJob(Protocol):
    """What the event is built from: a `KernelJob` or a row of the same columns."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def kind(self) -> str: ...

    @property
    def project(self) -> str | None: ...

    @property
    def params(self) -> dict[str, Any]: ...

    @property
    def attempts(self) -> int: ...

    @property
    def started_at(self) -> datetime | None: ...

    @property
    def created_by(self) -> str | None: ...

    @property
    def request_id(self) -> str | None: ...


async def publish_job_failed(session: AsyncSession, job: FailedJob, error: str) -> None:
    """Write `JobFailed` into `session`'s transaction. The outbox row names the job's creator and the
    request that submitted it, as the job's own events do (the job runs on their behalf)."""
    event = JobFailed(
        aggregate_id=str(job.id),
        project=job.project,
        job_id=str(job.id),
        kind=job.kind,
        params=dict(job.params or {}),
        error=error,
        attempts=job.attempts,
        started_at=job.started_at.isoformat() if job.started_at else None,
    )
    actor = current_actor.set(job.created_by)
    request = current_request_id.set(job.request_id)
    try:
        await publish(session, event)
    finally:
        current_actor.reset(actor)
        current_request_id.reset(request)


async def publish_failed_by_id(session: AsyncSession, job_id: uuid.UUID, error: str) -> None:
    """`publish_job_failed` for a record just updated in this session (read back column by column, so a
    stale copy in the session's identity map cannot leak into the event)."""
    row = (
        await session.execute(
            select(
                KernelJob.id,
                KernelJob.kind,
                KernelJob.project,
                KernelJob.params,
                KernelJob.attempts,
                KernelJob.started_at,
                KernelJob.created_by,
                KernelJob.request_id,
            ).where(KernelJob.id == job_id)
        )
    ).one()
    await publish_job_failed(session, row, error)
