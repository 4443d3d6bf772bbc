"""Background loops: started once, stopped by cancelling, polling rounds on wake-up and on a timer, and a
failing round does not end the loop."""

from __future__ import annotations

import asyncio

from mlplatform.kernel.background import BackgroundTask, PollingLoop


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
    loop.start()
    await asyncio.sleep(0.02)
    assert rounds == 1, "a round at start"
    loop.wake()
    await asyncio.sleep(0.02)
    assert rounds == 2, "a round when woken (this one fails)"
    await asyncio.sleep(0.3)
    assert rounds == 3, "the loop went on after the failure, on the timer"
    assert loop.running
    await loop.stop()
    assert not loop.running
