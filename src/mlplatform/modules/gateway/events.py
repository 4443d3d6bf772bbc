"""Domain events the gateway publishes through the outbox (in the transaction of the change)."""

from __future__ import annotations

from typing import ClassVar

from mlplatform.kernel.events import DomainEvent

PROJECT_AGGREGATE = "gateway.project"


class ProjectDeleted(DomainEvent, frozen=True, kw_only=True):
    """A project was deleted: it is tombstoned at once, and the `purge_job_id` job removes what it left in
    every module (`kernel/purge.py`). `aggregate_id` is the project's id, `project` its name."""

    event_type: ClassVar[str] = "gateway.ProjectDeleted"
    aggregate_type: ClassVar[str] = PROJECT_AGGREGATE
    purge_job_id: str
    deleted_by: str | None = None
