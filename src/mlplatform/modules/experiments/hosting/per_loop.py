"""One object per running event loop, made on first use there.

anyio limiters and aiohttp sessions belong to the loop that first used them; the apps of a test suite (and
the portal threads of their test clients) run on different loops while sharing MLflow's process-wide state.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        """The running loop's object, made now if it has none."""
        loop = asyncio.get_running_loop()
        value = self._by_loop.get(loop)
        if value is None:
            value = self._by_loop[loop] = self._factory()
        return value

    def pop(self) -> T | None:
        """Forget the running loop's object (the next `get` makes a new one) and return it."""
        return self._by_loop.pop(asyncio.get_running_loop(), None)
