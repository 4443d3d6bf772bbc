"""Stopping the platform's components within one deadline, each step on its own.

The app stops its components in order (jobs, the outbox dispatcher, each module, then the connections).
Two failure modes must not keep the process from exiting or leak the rest: a step that raises (the
next steps still run), and a step that never returns (a background loop waiting for a worker thread
that is stuck on a lock, a socket that never closes). A step still running at the deadline is cancelled
and left behind with an error in the log naming it; the steps after it get a short grace each, so the
connections are still closed.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("mlplatform.app")

STUCK_EVENT = "shutdown_step_stuck"
"""The log event of a step left behind at the deadline."""

LATE_STEP_GRACE_SECONDS = 1.0
"""The least time a step gets, also once the deadline has passed (a stuck step before it used it up)."""


class ShutdownSequence:
    """`await sequence.run("name", stop)` for each step, in order; never raises, and gives each step the
    time left until the deadline, at least `LATE_STEP_GRACE_SECONDS`."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.stuck: list[str] = []
        self.failed: list[str] = []

    async def run(self, name: str, step: Callable[[], Awaitable[None]]) -> bool:
        """Run `step()`; True when it finished cleanly."""
        task = asyncio.ensure_future(step())
        budget = max(self.deadline - time.monotonic(), LATE_STEP_GRACE_SECONDS)
        try:
            done, _ = await asyncio.wait({task}, timeout=budget)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            waiting_at = io.StringIO()
            task.print_stack(file=waiting_at)
            # Cancelled, not awaited: a step blocked in a worker thread would hold the cancellation too.
            task.cancel()
            self.stuck.append(name)
            log.error(STUCK_EVENT, step=name, waited_seconds=round(budget, 1), waiting_at=waiting_at.getvalue())
            return False
        if task.cancelled():
            self.failed.append(name)
            log.error("shutdown_step_failed", step=name, error="cancelled")
            return False
        if (exc := task.exception()) is not None:
            self.failed.append(name)
            log.error("shutdown_step_failed", step=name, error=f"{type(exc).__name__}: {exc}", exc_info=exc)
            return False
        return True
