"""A small bounded TTL cache for authentication results.

Used so that a request authenticates in microseconds instead of re-checking a signature or hitting the
database:

* verified JWTs are cached until ``min(exp, ttl)`` (``set_until``) — a token never outlives its expiry in
  the cache;
* API-key lookups are cached with a short ttl (a few seconds) so that revocation takes effect quickly.

Entries expire individually (monotonic clock, unaffected by wall-clock jumps); when the cache is full the
least recently used entry is evicted. It is not thread-safe but needs no lock under asyncio: no method
awaits, so each call runs atomically on the event loop.

Callers should key token entries by a digest of the token (e.g. SHA-256) rather than the raw token if
they want to keep bearer secrets out of heap dumps.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar, overload

__all__ = ["TTLCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")


class TTLCache(Generic[K, V]):
    """Bounded LRU cache whose entries expire after a per-entry ttl (capped by ``default_ttl``)."""

    def __init__(
        self,
        max_size: int = 10_000,
        default_ttl: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_size <= 0:
            raise ValueError("max_size must be positive")
        if default_ttl <= 0:
            raise ValueError("default_ttl must be positive")
        self.max_size = max_size
        self.default_ttl = default_ttl
        self._clock = clock
        self._wall_clock = wall_clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        entry = self._data.get(key)  # type: ignore[arg-type]
        return entry is not None and entry[0] > self._clock()

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: D | None = None) -> V | D | None:
        """The live value for ``key``, or ``default`` if absent or expired (expired entries are dropped)."""
        entry = self._data.get(key)
        if entry is None:
            return default
        expires_at, value = entry
        if expires_at <= self._clock():
            del self._data[key]
            return default
        self._data.move_to_end(key)
        return value

    def get_with_remaining(self, key: K) -> tuple[V, float] | None:
        """The live value for ``key`` and the seconds it has left, or None if absent or expired."""
        entry = self._data.get(key)
        if entry is None:
            return None
        left = entry[0] - self._clock()
        if left <= 0:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry[1], left

    def set(self, key: K, value: V, ttl: float | None = None) -> None:
        """Store ``value`` for ``min(ttl, default_ttl)`` seconds (``default_ttl`` if ``ttl`` is None).
        A non-positive ttl stores nothing (and removes any previous entry)."""
        effective = self.default_ttl if ttl is None else min(ttl, self.default_ttl)
        if effective <= 0:
            self._data.pop(key, None)
            return
        now = self._clock()
        data = self._data
        data[key] = (now + effective, value)
        data.move_to_end(key)
        if len(data) > self.max_size:
            self._evict()

    def set_until(self, key: K, value: V, expires_at: float) -> None:
        """Store ``value`` until the absolute Unix time ``expires_at`` (e.g. a JWT ``exp``), capped by
        ``default_ttl``."""
        self.set(key, value, expires_at - self._wall_clock())

    def invalidate(self, key: K) -> bool:
        """Remove ``key``; returns whether it was present."""
        return self._data.pop(key, None) is not None

    def clear(self) -> None:
        self._data.clear()

    def purge_expired(self) -> int:
        """Drop every expired entry (O(n)); returns how many were dropped."""
        now = self._clock()
        dead = [k for k, (exp, _) in self._data.items() if exp <= now]
        for k in dead:
            del self._data[k]
        return len(dead)

    def _evict(self) -> None:
        # Evict from the least-recently-used end. O(1) per insert: a full scan for expired entries would make
        # every insert O(n) once the cache is full of live entries; expired ones in the middle age out anyway.
        data = self._data
        while len(data) > self.max_size:
            data.popitem(last=False)
