"""The `kernel_jobs` table: the source of truth for every long-running job.

The queue (SAQ on Redis, or in-process tasks on the embedded default) only delivers work; what a
job is, where it stands and what it produced lives here, so the API, the CLI and any replica see the
same state whichever worker runs it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mlplatform.kernel.db import Base, utcnow


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


class KernelJob(Base):
    __tablename__ = "kernel_jobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(100))
    """Registered job function name, `<module>.<verb>` (`features.materialize`)."""
    project: Mapped[str | None] = mapped_column(String(100))
    """Project the job belongs to (drives who may see it); null for platform-level jobs."""
    status: Mapped[str] = mapped_column(String(12), default=JobStatus.QUEUED.value)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(String(500))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    timeout_seconds: Mapped[int] = mapped_column(default=3600)
    heartbeat_seconds: Mapped[int] = mapped_column(default=15)
    """A running attempt that misses heartbeats for this long is considered lost (worker died)."""
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    queue_key: Mapped[str | None] = mapped_column(String(100))
    """Key of the latest hand-over to the queue (SAQ job key); null for in-process execution."""
    worker: Mapped[str | None] = mapped_column(String(200))
    """Which worker (host:pid) runs or last ran the job."""
    created_by: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_kernel_jobs_listing", "created_at", "id"),
        Index("ix_kernel_jobs_project", "project", "created_at"),
        Index("ix_kernel_jobs_status", "status", "heartbeat_at"),
    )
