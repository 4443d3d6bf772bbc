"""Background loops: started once, stopped by cancelling, polling rounds on wake-up and on a timer, and a
failing round does not end the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mlplatform.kernel.background import BackgroundTask, PollingLoop
from tests.support.wait import wait_until_async


async def test_a_task_starts_once_and_stops() -> None:
    started = 0

    async def body() -> None:
        nonlocal started
        started += 1
        await asyncio.Event().wait()

    task = BackgroundTask("probe", body)
    task.start()
    task.start()
    await asyncio.sleep(0)
    assert task.running
    assert started == 1
    await task.stop()
    assert not task.running
    await task.stop()  # stopping twice is harmless


async def test_polling_rounds_on_wake_and_on_the_timer_and_survive_failures() -> None:
    rounds = 0

    async def one_round() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 2:
            raise RuntimeError("a failing round")

    loop = PollingLoop("probe", one_round, interval=0.2, failure_event="probe_round_failed")

    def reached(count: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return rounds >= count

        return check

    loop.start()
    await wait_until_async(reached(1), timeout=5, interval=0.01, message="a round at start")
    assert rounds == 1
    loop.wake()
    await wait_until_async(reached(2), timeout=5, interval=0.01, message="a round when woken (this one fails)")
    assert rounds == 2
    # Not woken again: the next round comes on the timer (0.2 s), the loop having survived the failure.
    await wait_until_async(reached(3), timeout=5, interval=0.01, message="a round on the timer")
    assert rounds == 3
    assert loop.running
    await loop.stop()
    assert not loop.running
