"""Events the job runner publishes about jobs themselves, whatever module registered the job kind.

Published in the same transaction that records the job's terminal status, so a subscriber (lineage)
sees exactly one `JobFailed` per job that ended failed — by an error, a time-out, its last retry, or
the reaper finding its worker dead. Successful jobs are announced by their own module's events
(`FeaturesMaterialized`, `TrainingDatasetCreated` …), which carry the results.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mlplatform.kernel.events import DomainEvent


class JobFailed(DomainEvent, frozen=True, kw_only=True):
    """A job ended in the `failed` status. `aggregate_id` is the job id; `project` the job's project."""

    event_type: ClassVar[str] = "JobFailed"
    aggregate_type: ClassVar[str] = "job"
    job_id: str
    kind: str
    """The registered job kind, such as `features.materialize`."""
    params: dict[str, Any]
    """The parameters the job was submitted with (never secrets: they are stored on the job record)."""
    error: str
    attempts: int
    started_at: str | None = None
    """ISO 8601 time the last attempt started, when known."""
