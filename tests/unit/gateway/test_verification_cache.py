"""TTLCache: per-entry expiry, ttl capping, LRU bound."""

from __future__ import annotations

import time

import pytest

from mlplatform.modules.gateway.credentials.verification_cache import TTLCache
from tests.support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_get_set_invalidate_clear(clock: FakeClock) -> None:
    cache: TTLCache[str, int] = TTLCache(max_size=10, default_ttl=60, clock=clock)
    assert cache.get("a") is None
    assert cache.get("a", -1) == -1
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1
    assert "b" in cache
    assert len(cache) == 2
    assert cache.invalidate("a") is True
    assert cache.invalidate("a") is False
    assert cache.get("a") is None
    cache.clear()
    assert len(cache) == 0


def test_expiry(clock: FakeClock) -> None:
    cache: TTLCache[str, str] = TTLCache(max_size=10, default_ttl=60, clock=clock)
    cache.set("short", "x", ttl=5)
    cache.set("default", "y")
    cache.set("capped", "z", ttl=3600)  # capped at default_ttl
    clock.now += 4.9
    assert cache.get("short") == "x"
    clock.now += 0.2
    assert cache.get("short") is None
    assert "short" not in cache
    clock.now += 54
    assert cache.get("default") == "y"
    assert cache.get("capped") == "z"
    clock.now += 1
    assert cache.get("default") is None
    assert cache.get("capped") is None
    assert len(cache) == 0


def test_non_positive_ttl_stores_nothing(clock: FakeClock) -> None:
    cache: TTLCache[str, str] = TTLCache(default_ttl=60, clock=clock)
    cache.set("k", "v")
    cache.set("k", "v2", ttl=0)
    assert cache.get("k") is None
    assert len(cache) == 0


def test_set_until_honours_absolute_expiry(clock: FakeClock) -> None:
    wall = [1_700_000_000.0]
    cache: TTLCache[str, str] = TTLCache(default_ttl=60, clock=clock, wall_clock=lambda: wall[0])
    cache.set_until("token-a", "claims-a", expires_at=wall[0] + 10)  # exp sooner than the ttl
    cache.set_until("token-b", "claims-b", expires_at=wall[0] + 3600)  # capped at 60 s
    cache.set_until("expired", "claims-c", expires_at=wall[0] - 1)
    assert cache.get("expired") is None
    clock.now += 10
    assert cache.get("token-a") is None
    assert cache.get("token-b") == "claims-b"
    clock.now += 50
    assert cache.get("token-b") is None


def test_bound_evicts_least_recently_used(clock: FakeClock) -> None:
    cache: TTLCache[int, int] = TTLCache(max_size=3, default_ttl=60, clock=clock)
    for i in range(3):
        cache.set(i, i)
    assert cache.get(0) == 0  # 0 becomes most recently used
    cache.set(3, 3)  # evicts 1
    assert len(cache) == 3
    assert cache.get(1) is None
    assert [cache.get(i) for i in (0, 2, 3)] == [0, 2, 3]
    for i in range(100, 200):
        cache.set(i, i)
    assert len(cache) == 3


def test_purge_expired(clock: FakeClock) -> None:
    cache: TTLCache[int, int] = TTLCache(max_size=100, default_ttl=60, clock=clock)
    for i in range(10):
        cache.set(i, i, ttl=1 if i % 2 else 30)
    clock.now += 2
    assert cache.purge_expired() == 5
    assert len(cache) == 5


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError, match="max_size"):
        TTLCache(max_size=0)
    with pytest.raises(ValueError, match="default_ttl"):
        TTLCache(default_ttl=0)


def test_hit_costs_microseconds() -> None:
    cache: TTLCache[str, dict[str, str]] = TTLCache(max_size=1000, default_ttl=60)
    cache.set("tok", {"sub": "u"})
    start = time.perf_counter()
    for _ in range(10_000):
        cache.get("tok")
    assert (time.perf_counter() - start) / 10_000 < 20e-6
