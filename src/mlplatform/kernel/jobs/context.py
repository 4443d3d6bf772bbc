"""What a running job function sees: its record, the platform, and a progress/cancellation channel."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlplatform.kernel.context import PlatformContext


class JobCancelled(Exception):
    """Raised inside a job (also from worker threads) once cancellation was requested."""


@dataclass
class JobContext:
    """Handed to every job function.

    `report()` is safe to call from worker threads (Feast, pandas): it only stores the latest
    progress, which the job's monitor writes to the record about once a second, and it raises
    `JobCancelled` once someone asked to cancel, so blocking loops stop at their next report.
    """

    job_id: uuid.UUID
    kind: str
    project: str | None
    params: dict[str, Any]
    created_by: str | None
    attempt: int
    platform: PlatformContext
    progress: float = 0.0
    message: str | None = None
    cancel_requested: bool = False

    def report(self, fraction: float, message: str | None = None) -> None:
        """Record progress (0..1, clamped) and an optional human-readable message."""
        if self.cancel_requested:
            raise JobCancelled(f"job {self.job_id} was cancelled")
        if math.isnan(fraction):
            fraction = 0.0
        self.progress = min(1.0, max(0.0, fraction))
        if message is not None:
            self.message = message[:500]
