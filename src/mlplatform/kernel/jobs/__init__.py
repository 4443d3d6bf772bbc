"""Long-running jobs: records in `kernel_jobs`, SAQ on Redis or in-process tasks, progress and cancellation.

Modules register job functions at start-up (`jobs_runtime(ctx).registry.register(JobDefinition(...))`)
and submit jobs inside their request transaction (`await jobs_runtime(ctx).submit(session, kind=...)`).

Names are resolved lazily so `mlplatform --help` (which mounts `mlplatform jobs`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlplatform.kernel.jobs.context import JobCancelled, JobContext
    from mlplatform.kernel.jobs.model import JobStatus, KernelJob
    from mlplatform.kernel.jobs.registry import JobDefinition, JobFunction, JobRegistry
    from mlplatform.kernel.jobs.runtime import JobRuntime, jobs_runtime
    from mlplatform.kernel.jobs.schemas import Job, JobPage
    from mlplatform.kernel.jobs.service import JobScope

_EXPORTS = {
    "Job": "schemas",
    "JobCancelled": "context",
    "JobContext": "context",
    "JobDefinition": "registry",
    "JobFunction": "registry",
    "JobPage": "schemas",
    "JobRegistry": "registry",
    "JobRuntime": "runtime",
    "JobScope": "service",
    "JobStatus": "model",
    "KernelJob": "model",
    "jobs_runtime": "runtime",
}

__all__ = [
    "Job",
    "JobCancelled",
    "JobContext",
    "JobDefinition",
    "JobFunction",
    "JobPage",
    "JobRegistry",
    "JobRuntime",
    "JobScope",
    "JobStatus",
    "KernelJob",
    "jobs_runtime",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
