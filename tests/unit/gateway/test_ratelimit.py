"""GCRA rate limiting: the same behaviour from the Redis and the in-process implementation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from mlplatform.modules.gateway.access.ratelimit import (
    InMemoryRateLimiter,
    LimiterUnavailable,
    RateLimiter,
    RateLimitPolicy,
    RateLimitResult,
    RedisRateLimiter,
    rate_limit_key,
)
from tests.support.clock import FakeClock

REDIS_URL = "redis://127.0.0.1:6379/15"


async def _connect() -> aioredis.Redis:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()  # type: ignore[misc]
    except (RedisConnectionError, OSError):
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL}")
    return client


async def _drop(client: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = await _connect()
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    value = f"mlp:test:rl:{uuid.uuid4().hex}:"
    yield value
    await _drop(redis_client, value)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=100.0)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[RateLimiter]:
    """Both implementations must pass every shared test."""
    if request.param == "memory":
        yield InMemoryRateLimiter(clock=clock)
        return
    client = await _connect()
    unique = f"mlp:test:rl:{uuid.uuid4().hex}:"
    try:
        yield RedisRateLimiter(client, prefix=unique)
    finally:
        await _drop(client, unique)
        await client.aclose()


Elapse = Callable[[float], Awaitable[None]]


@pytest.fixture
async def elapse(limiter: RateLimiter, clock: FakeClock) -> AsyncIterator[Elapse]:
    """Let time pass for `limiter` without waiting: the in-process limiter reads the fake clock; the Redis
    script reads the Redis server's clock, so every key of the limiter has its stored TAT moved back by that
    much instead, which is the same thing to GCRA (a key's whole state is its TAT)."""
    if not isinstance(limiter, RedisRateLimiter):

        async def tick(seconds: float) -> None:
            clock.advance(seconds)

        yield tick
        return
    client = await _connect()

    async def move_back(seconds: float) -> None:
        async for key in client.scan_iter(match=limiter.prefix + "*"):
            await client.decrby(key, round(seconds * 1_000_000))

    yield move_back
    await client.aclose()


POLICY = RateLimitPolicy(limit=5, window_seconds=1)


async def burst(limiter: RateLimiter, key: str, n: int, policy: RateLimitPolicy = POLICY) -> list[RateLimitResult]:
    return [await limiter.hit(key, policy) for _ in range(n)]


async def test_implements_protocol(limiter: RateLimiter) -> None:
    assert isinstance(limiter, RateLimiter)


async def test_burst_then_denied(limiter: RateLimiter) -> None:
    results = await burst(limiter, "user:1", 7)
    assert [r.allowed for r in results] == [True] * 5 + [False] * 2
    assert [r.remaining for r in results] == [4, 3, 2, 1, 0, 0, 0]
    assert all(r.limit == 5 for r in results)
    assert all(r.retry_after_seconds == 0 for r in results[:5])
    denied = results[5]
    # One slot frees up every window/limit = 0.2 s.
    assert 0 < denied.retry_after_seconds <= 0.2 + 1e-6
    assert 0.8 < denied.reset_seconds <= 1.0 + 1e-6
    assert 0.8 < results[4].reset_seconds <= 1.0 + 1e-6
    headers = denied.headers()
    assert headers["RateLimit-Limit"] == "5"
    assert headers["RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Reset"] == "1"
    assert headers["Retry-After"] == "1"
    assert "Retry-After" not in results[0].headers()


async def test_capacity_returns_after_retry_after(limiter: RateLimiter, elapse: Elapse) -> None:
    policy = RateLimitPolicy(limit=5, window_seconds=0.5)
    results = await burst(limiter, "user:2", 6, policy)
    assert not results[-1].allowed
    await elapse(results[-1].retry_after_seconds + 0.02)
    again = await limiter.hit("user:2", policy)
    assert again.allowed
    assert again.remaining == 0
    assert not (await limiter.hit("user:2", policy)).allowed
    # After a full window the whole burst is available again.
    await elapse(0.55)
    assert [r.allowed for r in await burst(limiter, "user:2", 6, policy)] == [True] * 5 + [False]


async def test_denied_requests_do_not_consume(limiter: RateLimiter, elapse: Elapse) -> None:
    policy = RateLimitPolicy(limit=2, window_seconds=0.3)
    await burst(limiter, "k", 2, policy)
    for _ in range(20):
        assert not (await limiter.hit("k", policy)).allowed
    await elapse(0.16)  # one emission interval (0.15 s), despite the hammering
    assert (await limiter.hit("k", policy)).allowed


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    await burst(limiter, rate_limit_key("runs", "user:a"), 5)
    assert not (await limiter.hit(rate_limit_key("runs", "user:a"), POLICY)).allowed
    assert (await limiter.hit(rate_limit_key("runs", "user:b"), POLICY)).allowed
    assert (await limiter.hit(rate_limit_key("models", "user:a"), POLICY)).allowed
    assert (await limiter.hit(rate_limit_key("ip", "203.0.113.9"), POLICY)).remaining == 4


async def test_policies_per_route_group(limiter: RateLimiter) -> None:
    strict = RateLimitPolicy(limit=1, window_seconds=10)
    assert (await limiter.hit("login:ip:1", strict)).allowed
    denied = await limiter.hit("login:ip:1", strict)
    assert not denied.allowed
    assert 9 < denied.retry_after_seconds <= 10


async def test_concurrent_hits_never_exceed_the_limit(limiter: RateLimiter) -> None:
    policy = RateLimitPolicy(limit=10, window_seconds=60)
    results = await asyncio.gather(*(limiter.hit("hot", policy) for _ in range(40)))
    assert sum(r.allowed for r in results) == 10


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="limit"):
        RateLimitPolicy(limit=0, window_seconds=1)
    with pytest.raises(ValueError, match="window"):
        RateLimitPolicy(limit=1, window_seconds=0)


# -- Redis specifics ---------------------------------------------------------------------------------------


async def test_redis_uses_exactly_one_round_trip_per_hit(redis_client: aioredis.Redis, prefix: str) -> None:
    """Observed server-side with MONITOR: every command our connection sends is counted."""
    client = aioredis.from_url(REDIS_URL, single_connection_client=True)
    try:
        limiter = RedisRateLimiter(client, prefix=prefix)
        await limiter.load()
        await limiter.hit("warm", POLICY)
        address = (await client.client_info())["addr"]
        marker = prefix + "done"
        async with redis_client.monitor() as monitor:
            for i in range(4):
                await limiter.hit(f"k{i % 2}", POLICY)
            await client.echo(marker)
            ours: list[str] = []
            while True:
                info = await asyncio.wait_for(monitor.next_command(), timeout=5)
                if f"{info['client_address']}:{info['client_port']}" != address:
                    continue
                if marker in info["command"]:
                    break
                ours.append(info["command"])
    finally:
        await client.aclose()
    assert len(ours) == 4, ours
    assert all(cmd.split()[0].upper() == "EVALSHA" for cmd in ours)
    assert all(prefix in cmd for cmd in ours)


async def test_redis_key_expires_with_the_state(redis_client: aioredis.Redis, prefix: str) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=prefix)
    await burst(limiter, "exp", 3)
    ttl_ms = await redis_client.pttl(prefix + "exp")
    assert 0 < ttl_ms <= 1000  # 3 hits of 0.2 s each -> ~0.6 s; nothing lingers once the bucket is empty
    assert ttl_ms <= 650


async def test_redis_errors_become_limiter_unavailable() -> None:
    client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limiter = RedisRateLimiter(client)
    with pytest.raises(LimiterUnavailable) as info:
        await limiter.hit("k", POLICY)
    assert isinstance(info.value.__cause__, RedisConnectionError)
    await client.aclose()


# -- in-memory specifics ----------------------------------------------------------------------------------


async def test_memory_exact_gcra_arithmetic() -> None:
    clock = FakeClock(start=100.0)
    limiter = InMemoryRateLimiter(clock=clock)
    policy = RateLimitPolicy(limit=3, window_seconds=3)  # one request per second, burst 3
    assert [r.remaining for r in await burst(limiter, "k", 3, policy)] == [2, 1, 0]
    denied = await limiter.hit("k", policy)
    assert not denied.allowed
    assert denied.retry_after_seconds == pytest.approx(1.0)
    assert denied.reset_seconds == pytest.approx(3.0)
    clock.now += 0.5
    assert (await limiter.hit("k", policy)).retry_after_seconds == pytest.approx(0.5)
    clock.now += 0.5
    ok = await limiter.hit("k", policy)
    assert ok.allowed
    assert ok.remaining == 0
    clock.now += 10
    assert (await limiter.hit("k", policy)).remaining == 2


async def test_memory_is_bounded_and_evicts_expired_first() -> None:
    clock = FakeClock(start=100.0)
    limiter = InMemoryRateLimiter(max_keys=100, clock=clock)
    short = RateLimitPolicy(limit=10, window_seconds=1)
    long = RateLimitPolicy(limit=1, window_seconds=3600)
    for i in range(50):
        await limiter.hit(f"short-{i}", short)
    await limiter.hit("victim", long)
    clock.now += 5  # every "short" entry has expired
    for i in range(60):
        await limiter.hit(f"new-{i}", short)
    assert len(limiter) <= 100
    assert not (await limiter.hit("victim", long)).allowed  # a live entry survived eviction
    for i in range(1000):
        await limiter.hit(f"flood-{i}", short)
    assert len(limiter) <= 100
