"""Waiting for something that happens elsewhere (another process, a background task, a server-side expiry):
poll for the condition until a deadline instead of sleeping a fixed time, so a test is as quick as the
machine allows and does not fail when the machine is slow. Time that product code measures is driven by a
fake clock instead (`tests/support/clock.py`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


Message = str | Callable[[], str]
"""What the test waited for (a callable is asked only on failure, to describe the last state seen)."""


def _failure(message: Message, timeout: float, value: object) -> AssertionError:
    text = message() if callable(message) else message
    return AssertionError(f"{text or 'condition'} not met within {timeout} s (last: {value!r})")


def wait_until(
    condition: Callable[[], T | None], *, timeout: float, interval: float = 0.05, message: Message = ""
) -> T:
    """Call `condition` until it returns a truthy value and return that value; AssertionError after
    `timeout` seconds (naming `message` and the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _failure(message, timeout, value)
        time.sleep(interval)


async def wait_until_async(
    condition: Callable[[], Awaitable[T | None]], *, timeout: float, interval: float = 0.05, message: Message = ""
) -> T:
    """`wait_until` for a coroutine condition, without blocking the event loop between tries."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _failure(message, timeout, value)
        await asyncio.sleep(interval)
