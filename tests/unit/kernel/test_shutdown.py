"""Stopping components within one deadline: a step that raises or never returns does not keep the next
steps from running, and the sequence never waits past its deadline for a stuck step."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from mlplatform.kernel.logging import configure_logging
from mlplatform.kernel.shutdown import ShutdownSequence


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    configure_logging("INFO", json=True)
    caplog.set_level(logging.INFO, logger="mlplatform.app")
    return caplog


def entries(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == event]


@pytest.fixture
def stuck_thread() -> Iterator[threading.Event]:
    """Released at the end of the test, so the worker thread a stuck step waits for does not outlive it."""
    release = threading.Event()
    yield release
    release.set()


async def test_steps_run_in_order_and_report_success() -> None:
    ran: list[str] = []

    async def step(name: str) -> None:
        ran.append(name)

    sequence = ShutdownSequence(5.0)
    assert await sequence.run("first", lambda: step("first"))
    assert await sequence.run("second", lambda: step("second"))
    assert ran == ["first", "second"]
    assert sequence.stuck == sequence.failed == []


async def test_a_failing_step_is_logged_and_the_next_still_runs(logs: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    async def broken() -> None:
        raise RuntimeError("socket already closed")

    async def close() -> None:
        ran.append("close")

    sequence = ShutdownSequence(5.0)
    assert not await sequence.run("emitter", broken)
    assert await sequence.run("connections", close)
    assert ran == ["close"]
    assert sequence.failed == ["emitter"]
    [failure] = entries(logs, "shutdown_step_failed")
    assert failure["step"] == "emitter"
    assert "socket already closed" in failure["error"]


@pytest.mark.filterwarnings("ignore:call. a component was stuck at shutdown")
async def test_a_step_blocked_in_a_worker_thread_is_left_behind_at_the_deadline(
    stuck_thread: threading.Event, logs: pytest.LogCaptureFixture
) -> None:
    """A task waiting for a worker thread cannot be cancelled before the thread returns: the sequence
    must not wait for it, and the steps after it still get their grace."""
    closed = asyncio.Event()

    async def stuck() -> None:
        await anyio.to_thread.run_sync(stuck_thread.wait)

    async def close() -> None:
        closed.set()

    sequence = ShutdownSequence(0.3)
    assert not await sequence.run("reconciler", stuck)
    assert not stuck_thread.is_set(), "returned while the thread it waits for is still blocked"
    assert await sequence.run("connections", close)
    assert closed.is_set(), "the step after the deadline ran within its grace"
    assert sequence.stuck == ["reconciler"]
    [stuck_entry] = entries(logs, "shutdown_step_stuck")
    assert stuck_entry["step"] == "reconciler"
    assert "in stuck" in stuck_entry["waiting_at"], "the log says where the step waits"
