"""The test suite's hang report names what an event loop in another thread is waiting for."""

from __future__ import annotations

import asyncio
import io
import threading

from tests.support.hang_report import write_report


def test_the_report_shows_the_tasks_of_a_loop_in_another_thread() -> None:
    ready = threading.Event()
    loop_holder: list[asyncio.AbstractEventLoop] = []
    stop: list[asyncio.Event] = []

    async def waiting_for_a_stop_that_never_comes() -> None:
        stop.append(asyncio.Event())
        ready.set()
        await stop[0].wait()

    def serve() -> None:
        loop = asyncio.new_event_loop()
        loop_holder.append(loop)
        loop.run_until_complete(waiting_for_a_stop_that_never_comes())
        loop.close()

    thread = threading.Thread(target=serve, name="portal-like")
    thread.start()
    assert ready.wait(5)
    out = io.StringIO()
    try:
        write_report(out, "teardown of test_x")
    finally:
        loop_holder[0].call_soon_threadsafe(stop[0].set)
        thread.join(5)
    report = out.getvalue()
    assert "teardown of test_x is still running" in report
    assert "waiting_for_a_stop_that_never_comes" in report
    assert "--- thread portal-like" in report
