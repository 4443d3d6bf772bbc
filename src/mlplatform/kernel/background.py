"""Long-lived background loops owned by a component (outbox dispatcher, OpenLineage emitter, audit writer,
MLflow reconciler): one named task, started idempotently, stopped by cancelling and waiting for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

log = structlog.get_logger("mlplatform.background")


class BackgroundTask:
    """Runs `body()` as a task named `name`. `start` does nothing while it runs (and starts it again after
    it ended); `stop` cancels it and waits until it has finished."""

    def __init__(self, name: str, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name = name
        self._body = body
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._body(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class PollingLoop(BackgroundTask):
    """Runs `round()` when woken and at least every `interval` seconds. A failing round is logged as
    `failure_event` and the loop goes on (the next round retries what is still due)."""

    def __init__(self, name: str, round: Callable[[], Awaitable[Any]], *, interval: float, failure_event: str) -> None:
        super().__init__(name, self._run)
        self._round = round
        self._interval = interval
        self._failure_event = failure_event
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Ask for a round now (e.g. after a commit that wrote something due)."""
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(self._failure_event)
            # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` can swallow a cancellation that arrives
            # together with a wake-up, and `stop()` then waits for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wakeup.wait()
