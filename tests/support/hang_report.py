"""When a test phase runs for most of pytest-timeout's limit, print what every thread and every asyncio
task is waiting for.

pytest-timeout's failure shows only the main thread's stack. Here that is the test's loop blocked in a
test client's `portal.call`, while what hangs runs on the portal's event loop in another thread, as an
asyncio task whose stack no thread dump shows. Printed to the real stderr (not the captured one), once
per phase, `REPORT_SHARE` of the way to the timeout, so a CI log carries it even if the run is cut short.
A test whose app had to leave a stuck component behind at shutdown gets a warning in the summary.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Generator
from typing import Any, TextIO

import pytest

from mlplatform.kernel.shutdown import STUCK_EVENT

REPORT_SHARE = 0.8
POLL_SECONDS = 2.0

_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_original_init = asyncio.BaseEventLoop.__init__


def _recording_init(self: asyncio.BaseEventLoop, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    _loops.add(self)


class _Phase:
    def __init__(self) -> None:
        self.name: str | None = None
        self.started = 0.0
        self.reported = False


_phase = _Phase()


def _tasks_of(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[Any]]:
    for _ in range(5):  # read from another thread: the loop may change its task set meanwhile
        try:
            return list(asyncio.all_tasks(loop))
        except RuntimeError:
            continue
    return []


def write_report(out: TextIO, phase: str) -> None:
    out.write(f"\n===== {phase} is still running: threads and asyncio tasks =====\n")
    out.flush()
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        out.write(f"\n--- thread {names.get(ident, ident)}\n")
        out.write("".join(traceback.format_stack(frame)))
    for loop in list(_loops):
        if loop.is_closed():
            continue
        out.write(f"\n--- event loop {loop!r}\n")
        for task in _tasks_of(loop):
            out.write(f"\n* {task!r}\n")
            task.print_stack(file=out)
    out.write("===== end of report =====\n")
    out.flush()


def _watch(limit: float) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        name = _phase.name
        if name is None or _phase.reported or time.monotonic() - _phase.started < limit:
            continue
        _phase.reported = True
        write_report(sys.__stderr__ or sys.stderr, name)


def pytest_configure(config: pytest.Config) -> None:
    timeout = float(config.getoption("timeout", default=None) or config.getini("timeout") or 0)
    if timeout <= 0:
        return
    asyncio.BaseEventLoop.__init__ = _recording_init  # type: ignore[method-assign]
    threading.Thread(target=_watch, args=(timeout * REPORT_SHARE,), name="hang-report", daemon=True).start()


def _timing(describe: Callable[[pytest.Item], str]) -> Callable[[pytest.Item], Generator[None, None, None]]:
    """A hook wrapper that marks a test phase as running while the phase runs."""

    @pytest.hookimpl(wrapper=True)
    def wrapper(item: pytest.Item) -> Generator[None, None, None]:
        _phase.name, _phase.started, _phase.reported = describe(item), time.monotonic(), False
        try:
            return (yield)
        finally:
            _phase.name = None

    return wrapper


pytest_runtest_setup = _timing(lambda item: f"setup of {item.nodeid}")
pytest_runtest_call = _timing(lambda item: item.nodeid)
pytest_runtest_teardown = _timing(lambda item: f"teardown of {item.nodeid}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """An app that stopped only because a component's stop was left behind at the deadline
    (`kernel/shutdown.py`) passes, and says so in the run's warnings summary."""
    report = yield
    captured = "".join(text for section, text in report.sections if section == f"Captured stderr {call.when}")
    stuck = [line for line in captured.splitlines() if STUCK_EVENT in line]
    if stuck:
        item.warn(pytest.PytestWarning(f"{call.when}: a component was stuck at shutdown: {stuck[0][:300]}"))
    return report
