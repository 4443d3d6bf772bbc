"""Wire types of the jobs API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from mlplatform.kernel.jobs.model import KernelJob


class Job(msgspec.Struct, kw_only=True):
    """A long-running job: what it is, where it stands and what it produced."""

    id: uuid.UUID
    kind: str
    project: str | None
    status: str
    """queued, running, succeeded, failed or cancelled."""
    progress: float
    """0..1."""
    message: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    worker: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @classmethod
    def from_row(cls, row: KernelJob) -> Job:
        return cls(
            id=row.id,
            kind=row.kind,
            project=row.project,
            status=row.status,
            progress=row.progress,
            message=row.message,
            params=row.params or {},
            result=row.result,
            error=row.error,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            cancel_requested=row.cancel_requested,
            worker=row.worker,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            heartbeat_at=row.heartbeat_at,
        )


class JobPage(msgspec.Struct, kw_only=True):
    items: list[Job]
    next_cursor: str | None = None
