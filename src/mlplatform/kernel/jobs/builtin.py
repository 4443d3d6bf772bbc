"""Jobs the kernel itself provides.

`kernel.selftest` exercises the whole pipeline (queue, worker, heartbeats, progress, retries)
without touching any module: `mlplatform jobs selftest` runs it to check a deployment's workers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mlplatform.kernel.errors import Invalid
from mlplatform.kernel.jobs.context import JobContext
from mlplatform.kernel.jobs.registry import JobDefinition, JobRegistry

SELFTEST_KIND = "kernel.selftest"


class SelftestFailure(RuntimeError):
    """The failure a self-test was asked to simulate (a transient error: it is retried)."""


async def selftest(ctx: JobContext) -> dict[str, Any]:
    seconds = ctx.params.get("seconds", 2.0)
    if not isinstance(seconds, int | float) or not 0 <= seconds <= 3600:
        raise Invalid("seconds: must be a number between 0 and 3600", field="seconds")
    fail_attempts = int(ctx.params.get("fail_attempts", 0))
    started = time.monotonic()
    steps = max(1, int(seconds * 10))
    for step in range(steps):
        await asyncio.sleep(seconds / steps)
        ctx.report((step + 1) / steps, f"step {step + 1}/{steps} (attempt {ctx.attempt})")
        if ctx.attempt <= fail_attempts and step + 1 >= steps // 2:
            raise SelftestFailure(f"simulated failure in attempt {ctx.attempt}")
    return {"slept_seconds": round(time.monotonic() - started, 3), "attempt": ctx.attempt}


def register_builtin_jobs(registry: JobRegistry) -> None:
    registry.register(
        JobDefinition(
            kind=SELFTEST_KIND,
            function=selftest,
            max_attempts=3,
            timeout_seconds=3700,
            heartbeat_seconds=15,
            description="Sleeps while reporting progress; checks that workers pick up and finish jobs.",
        )
    )
