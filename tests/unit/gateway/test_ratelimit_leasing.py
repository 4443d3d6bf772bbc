"""Batch grants in the Redis script and per-process leases on top of them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from mlplatform.modules.gateway.access.ratelimit import (
    LeasingRateLimiter,
    RateLimitPolicy,
    RateLimitResult,
    RedisRateLimiter,
)
from tests.support.clock import FakeClock
from tests.support.services import REDIS_URL, missing, reachable
from tests.support.wait import wait_until_async


class CountingLimiter(RedisRateLimiter):
    calls = 0
    answered = 0
    """Calls that returned: the lease they refill is updated before anything else runs on the loop."""

    async def hit(self, key: str, policy: RateLimitPolicy, wanted: int = 1) -> RateLimitResult:
        self.calls += 1
        result = await super().hit(key, policy, wanted)
        self.answered += 1
        return result


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    if not reachable(REDIS_URL, 6379):
        missing("Redis", REDIS_URL)
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def test_script_grants_as_many_as_fit(redis: Redis) -> None:
    limiter = RedisRateLimiter(redis, prefix=f"t:{uuid.uuid4().hex}:")
    policy = RateLimitPolicy(10, 60)
    first = await limiter.hit("k", policy, wanted=4)
    assert (first.allowed, first.granted, first.remaining) == (True, 4, 6)
    second = await limiter.hit("k", policy, wanted=20)
    assert (second.allowed, second.granted, second.remaining) == (True, 6, 0)
    third = await limiter.hit("k", policy, wanted=5)
    assert (third.allowed, third.granted) == (False, 0)
    assert third.retry_after_seconds > 0


async def test_leases_cut_round_trips_and_never_overshoot(redis: Redis) -> None:
    inner = CountingLimiter(redis, prefix=f"t:{uuid.uuid4().hex}:")
    leasing = LeasingRateLimiter(inner, max_batch=20, lease_seconds=60)
    policy = RateLimitPolicy(1000, 3600)  # refills one request per 3.6 s: nothing comes back during the test
    results = [await leasing.hit("busy", policy) for _ in range(1000)]
    assert all(r.allowed for r in results)
    assert inner.calls == 1000 // 20
    over = [await leasing.hit("busy", policy) for _ in range(10)]
    assert not any(r.allowed for r in over), "leases never let a key past its limit"
    assert results[0].remaining == 999
    assert results[5].remaining == 994


async def test_small_limits_stay_exact(redis: Redis) -> None:
    inner = CountingLimiter(redis, prefix=f"t:{uuid.uuid4().hex}:")
    leasing = LeasingRateLimiter(inner)
    policy = RateLimitPolicy(5, 60)
    assert [(await leasing.hit("k", policy)).allowed for _ in range(6)] == [True] * 5 + [False]
    assert inner.calls == 6


async def test_concurrent_requests_share_one_refill(redis: Redis) -> None:
    import asyncio

    inner = CountingLimiter(redis, prefix=f"t:{uuid.uuid4().hex}:")
    leasing = LeasingRateLimiter(inner, max_batch=100, lease_seconds=60)
    policy = RateLimitPolicy(100_000, 60)
    results = await asyncio.gather(*(leasing.hit("hot", policy) for _ in range(16)))
    assert all(r.allowed for r in results)
    assert inner.calls == 1


async def test_second_half_of_a_lease_takes_the_next_batch_in_the_background(redis: Redis) -> None:
    inner = CountingLimiter(redis, prefix=f"t:{uuid.uuid4().hex}:")
    leasing = LeasingRateLimiter(inner, max_batch=20, lease_seconds=60)
    policy = RateLimitPolicy(1000, 3600)
    for _ in range(15):
        assert (await leasing.hit("k", policy)).allowed
    assert inner.calls == 1, "the first batch is spent without a second round trip until its top-up runs"
    assert (await leasing.hit("k", policy)).remaining == 984

    async def topped_up() -> bool:  # it runs while the rest of the lease is spent
        return inner.answered == 2

    await wait_until_async(topped_up, timeout=5, message="the background top-up")
    assert inner.calls == 2
    results = [await leasing.hit("k", policy) for _ in range(24)]
    assert all(r.allowed for r in results)
    assert inner.calls == 2, "the topped-up lease (4 left + 20) covers the next 24 requests"
    assert results[-1].remaining == 960


async def test_a_busy_key_takes_what_it_spends_in_a_tenth_of_a_second(redis: Redis) -> None:
    """A fixed batch of 20 lasts 4 ms at 5000 requests/s, less than a round trip to Redis on a busy loop:
    the next take is sized by the spend rate instead, up to 1/50 of the limit."""
    clock = FakeClock()
    inner = CountingLimiter(redis, prefix=f"t:{uuid.uuid4().hex}:")
    leasing = LeasingRateLimiter(inner, max_batch=20, lease_seconds=60, clock=clock)
    policy = RateLimitPolicy(1_000_000, 3600)
    for _ in range(11):  # 5000 requests/s; the 11th leaves 9 of 20: the top-up starts
        assert (await leasing.hit("k", policy)).allowed
        clock.advance(0.0002)

    async def topped_up() -> bool:
        return inner.answered == 2

    await wait_until_async(topped_up, timeout=5, message="the background top-up")
    lease = leasing._leases["k"]
    assert 400 <= lease.batch <= 600, "about 0.1 s of spending at 5000/s"
    assert lease.left == 9 + lease.batch

    slow = LeasingRateLimiter(inner, max_batch=20, lease_seconds=60, clock=clock)
    small = RateLimitPolicy(1000, 3600)
    for _ in range(11):
        await slow.hit("quiet", small)
        clock.advance(0.5)
    await wait_until_async(lambda: _answered(inner, 4), timeout=5, message="the quiet key's top-up")
    assert slow._leases["quiet"].batch == 20, "never beyond 1/50 of the limit nor under the configured batch"


async def _answered(inner: CountingLimiter, calls: int) -> bool:
    return inner.answered == calls
