"""Rate limiting with GCRA (Generic Cell Rate Algorithm), in Redis or in process.

Algorithm
---------
A policy "``limit`` requests per ``window`` seconds" defines an emission interval ``T = window / limit``.
Each key stores one number, its *theoretical arrival time* (TAT): the instant at which the key would be
back to an empty bucket if requests kept arriving at exactly the permitted rate. For a request at ``now``::

    tat      = max(stored_tat, now)
    new_tat  = tat + T
    allow_at = new_tat - window        # earliest instant this request fits in the burst allowance
    if now < allow_at:  deny;  retry_after = allow_at - now   (exact: the moment one slot frees up)
    else:               allow; store new_tat (expiring at new_tat)

So a fresh key may burst ``limit`` requests at once, after which capacity comes back smoothly, one request
every ``T`` seconds (no fixed-window "double burst" at window edges). ``remaining`` is how many more
requests would be allowed right now, ``reset`` is the time until the key's full quota is back
(``new_tat - now``), matching the ``RateLimit-Remaining`` / ``RateLimit-Reset`` header semantics.

Redis: the whole read-compute-write runs in ONE ``EVALSHA`` of a Lua script (atomic, one round trip). The
script uses the Redis server clock (``TIME``), so several platform processes agree on ``now`` even if
their clocks drift; times are integer microseconds. Redis errors are not caught: the caller decides
whether to fail open or closed (``redis.exceptions.ConnectionError`` etc. propagate).

In process: same algorithm on ``time.monotonic()``, with a bounded dict that first drops expired entries
and, if still full, the least recently used ones (which fails open for those keys — acceptable for a cache
of limits, and the bound protects memory against key floods such as spoofed client IPs).
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "AUTH_GROUP",
    "InMemoryRateLimiter",
    "LeasingRateLimiter",
    "LimiterUnavailable",
    "RateLimitPolicy",
    "RateLimitResult",
    "RateLimiter",
    "RedisRateLimiter",
    "rate_limit_key",
]

_EPS = 1e-9

AUTH_GROUP = "auth"
"""The route group of sign-in and the token endpoint, also charged per client address for every failed
authentication: what brute-forcing credentials costs."""


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """``limit`` requests per ``window_seconds`` (burst up to ``limit``, then smooth refill)."""

    limit: int
    window_seconds: float

    def __post_init__(self) -> None:
        if self.limit <= 0:
            raise ValueError("limit must be positive")
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be positive")

    @property
    def emission_interval(self) -> float:
        return self.window_seconds / self.limit


class RateLimitResult(NamedTuple):
    """Outcome of one hit. Times are in (fractional) seconds; ``retry_after_seconds`` is 0 when allowed.

    A named tuple rather than a frozen dataclass: one is built per request, and a tuple is built in C where a
    frozen dataclass sets each field through `object.__setattr__`."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float
    retry_after_seconds: float
    granted: int = 1
    """Requests this hit paid for (more than one when a process leases a batch, see `LeasingRateLimiter`)."""

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit/Remaining/Reset`` (+ ``Retry-After`` when denied), delta-seconds rounded up."""
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_seconds - _EPS)),
        }
        if not self.allowed:
            out["Retry-After"] = str(max(1, math.ceil(self.retry_after_seconds - _EPS)))
        return out

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """`headers()` as ASGI header pairs (lower-case names), for responses that were allowed."""
        return [
            _limit_header(self.limit),
            (b"ratelimit-remaining", b"%d" % self.remaining),
            (b"ratelimit-reset", b"%d" % math.ceil(self.reset_seconds - _EPS)),
        ]


@functools.lru_cache(maxsize=64)
def _limit_header(limit: int) -> tuple[bytes, bytes]:
    """The `RateLimit-Limit` pair of a limit: the same few limits on every response, formatted once."""
    return (b"ratelimit-limit", b"%d" % limit)


@runtime_checkable
class RateLimiter(Protocol):
    async def hit(self, key: str, policy: RateLimitPolicy) -> RateLimitResult:
        """Count one request against ``key`` under ``policy`` and say whether it is allowed."""
        ...


def rate_limit_key(route_group: str, principal: str) -> str:
    """Conventional key: per route group and principal (``user:<id>``, ``sa:<id>``, ``ip:<addr>``...)."""
    return f"{route_group}:{principal}"


def _gcra(tat: float, now: float, policy: RateLimitPolicy) -> tuple[RateLimitResult, float | None]:
    """Pure GCRA step (seconds). Returns the result and the new TAT to store (None when denied)."""
    interval = policy.emission_interval
    window = policy.window_seconds
    tat = max(tat, now)
    new_tat = tat + interval
    allow_at = new_tat - window
    if now < allow_at - _EPS:
        return RateLimitResult(False, policy.limit, 0, tat - now, allow_at - now), None
    remaining = math.floor((window - (new_tat - now)) / interval + _EPS)
    remaining = max(0, min(policy.limit - 1, remaining))
    return RateLimitResult(True, policy.limit, remaining, new_tat - now, 0.0), new_tat


# KEYS[1] = key; ARGV[1] = limit; ARGV[2] = window in microseconds; ARGV[3] = requests wanted (>= 1).
# Grants min(wanted, available) requests at once (available = how many fit in the burst allowance now).
# Returns {allowed (0/1), remaining, reset_us, retry_after_us, granted}.
_GCRA_LUA = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3] or '1')
local interval = window / limit
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local available = math.floor((now + window - tat) / interval + 1e-6)
if available < 1 then
  return {0, 0, math.ceil(tat - now), math.ceil(tat + interval - window - now), 0}
end
local granted = math.min(available, wanted)
local new_tat = math.floor(tat + interval * granted + 0.5)
local ttl_ms = math.ceil((new_tat - now) / 1000)
if ttl_ms < 1 then ttl_ms = 1 end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
local remaining = available - granted
if remaining > limit - granted then remaining = limit - granted end
return {1, remaining, math.ceil(new_tat - now), 0, granted}
"""


class LimiterUnavailable(Exception):
    """The rate limiter's store could not be reached (the gateway then lets the request through)."""


class RedisRateLimiter:
    """GCRA in Redis: exactly one ``EVALSHA`` round trip per hit once the script is cached server-side
    (redis-py loads it transparently on the first ``NOSCRIPT``; call ``load()`` at startup to pre-load)."""

    def __init__(self, redis: Redis, prefix: str = "mlp:rl:") -> None:
        from redis.exceptions import RedisError

        self._redis = redis
        self.prefix = prefix
        self._script = redis.register_script(_GCRA_LUA)
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError)

    async def load(self) -> None:
        """Pre-load the script (``SCRIPT LOAD``) so the first hit is also a single round trip."""
        self._script.sha = await self._redis.script_load(_GCRA_LUA)

    async def hit(self, key: str, policy: RateLimitPolicy, wanted: int = 1) -> RateLimitResult:
        """One round trip. With `wanted > 1`, grants as many of those requests as fit right now."""
        window_us = max(1, round(policy.window_seconds * 1_000_000))
        try:
            raw = await self._script(keys=[self.prefix + key], args=[policy.limit, window_us, wanted])
        except self._errors as exc:
            raise LimiterUnavailable(str(exc)) from exc
        allowed, remaining, reset_us, retry_us, granted = (int(v) for v in raw)
        return RateLimitResult(
            allowed=bool(allowed),
            limit=policy.limit,
            remaining=remaining,
            reset_seconds=max(0, reset_us) / 1_000_000,
            retry_after_seconds=max(0, retry_us) / 1_000_000,
            granted=granted,
        )


class InMemoryRateLimiter:
    """GCRA in process (the embedded default). Safe under asyncio: ``hit`` never awaits while it reads and
    writes the state, so each call is atomic on the event loop."""

    def __init__(self, max_keys: int = 100_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_keys <= 0:
            raise ValueError("max_keys must be positive")
        self.max_keys = max_keys
        self._clock = clock
        self._tats: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tats)

    async def hit(self, key: str, policy: RateLimitPolicy) -> RateLimitResult:
        return self.hit_sync(key, policy)

    def hit_sync(self, key: str, policy: RateLimitPolicy) -> RateLimitResult:
        now = self._clock()
        tats = self._tats
        result, new_tat = _gcra(tats.get(key, now), now, policy)
        if new_tat is not None:
            tats[key] = new_tat
            tats.move_to_end(key)
            if len(tats) > self.max_keys:
                self._evict(now)
        return result

    def _evict(self, now: float) -> None:
        tats = self._tats
        expired = [k for k, tat in tats.items() if tat <= now]
        for k in expired:
            del tats[k]
        # Evict down to 90% so a flood of new keys does not trigger a full scan on every insert.
        target = self.max_keys * 9 // 10 if not expired else self.max_keys
        while len(tats) > target:
            tats.popitem(last=False)

    def clear(self) -> None:
        self._tats.clear()


SPEND_HORIZON_SECONDS = 0.1
"""A busy key's batch is what the process spends of it in this long: under a steady load a Redis round trip
(a few ms, up to ~15 ms on a saturated event loop) lands long before the half-batch left when it started."""


@dataclass(slots=True)
class _Lease:
    left: int
    """Requests this process may still grant locally."""
    expires_at: float
    remaining: int
    """What Redis had left after the last take (for the RateLimit-Remaining header)."""
    reset_at: float
    batch: int
    """Size of the last take."""
    taken_at: float
    spent: int = 0
    """Requests granted since `taken_at`: the spend rate that sizes the next take."""


class LeasingRateLimiter:
    """Redis GCRA with per-process leases, so busy keys do not cost a Redis round trip per request.

    A key whose limit is large takes a batch of requests from Redis in one round trip and spends them
    locally for at most `lease_seconds`. The batch is at least `clamp(limit // 50, 1, max_batch)` and grows
    with the key's spend rate to what the process spends in `SPEND_HORIZON_SECONDS`, never beyond
    `limit // 50`. Accuracy: across N processes a key can exceed nothing (leased requests are counted in
    Redis when taken) but may be refused up to N * 1.5 * batch requests early (3 % of the limit per process),
    and leftovers of an expired lease are lost. Keys with limits under 100 per window get batch 1: exact,
    one round trip per request. When half of a lease is spent, the next batch is taken in the background,
    so under a steady load requests spend leased budget and almost never wait for Redis.
    """

    def __init__(
        self,
        inner: RedisRateLimiter,
        *,
        max_batch: int = 100,
        lease_seconds: float = 1.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.max_batch = max_batch
        self.lease_seconds = lease_seconds
        self.max_keys = max_keys
        self._clock = clock
        self._leases: OrderedDict[str, _Lease] = OrderedDict()
        self._refills: dict[str, asyncio.Future[None]] = {}
        """Keys whose lease is being refilled: concurrent requests wait for that one round trip."""

    def _smallest_batch(self, policy: RateLimitPolicy) -> int:
        return max(1, min(self.max_batch, policy.limit // 50))

    def _next_batch(self, lease: _Lease | None, policy: RateLimitPolicy, now: float) -> int:
        """What to take next: the spend of the last `SPEND_HORIZON_SECONDS` at the rate seen since the last take."""
        smallest = self._smallest_batch(policy)
        if lease is None or lease.spent == 0:
            return smallest
        elapsed = now - lease.taken_at
        wanted = math.ceil(lease.spent * SPEND_HORIZON_SECONDS / elapsed) if elapsed > 0 else lease.batch * 2
        return max(smallest, min(policy.limit // 50, wanted))

    def _spend(self, key: str, policy: RateLimitPolicy) -> RateLimitResult | None:
        now = self._clock()
        lease = self._leases.get(key)
        if lease is not None and lease.left >= 1 and lease.expires_at > now:
            lease.left -= 1
            lease.spent += 1
            if lease.left * 2 < lease.batch and key not in self._refills:
                self._top_up_in_background(key, policy, self._next_batch(lease, policy, now))
            reset = lease.reset_at - now
            # Positional, no `max()` call: built on every request a lease answers.
            left = lease.remaining + lease.left
            return RateLimitResult(True, policy.limit, left, reset if reset > 0 else 0.0, 0.0, 0)
        return None

    async def hit(self, key: str, policy: RateLimitPolicy) -> RateLimitResult:
        if self._smallest_batch(policy) == 1:  # too small a budget to lease: exact, one round trip per hit
            return await self.inner.hit(key, policy)
        spent = self._spend(key, policy)
        if spent is not None:
            return spent
        pending = self._refills.get(key)
        if pending is not None:
            await asyncio.shield(pending)
            spent = self._spend(key, policy)
            if spent is not None:
                return spent
        refill: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._refills[key] = refill
        try:
            return await self._refill(key, policy)
        finally:
            self._refills.pop(key, None)
            refill.set_result(None)

    def _top_up_in_background(self, key: str, policy: RateLimitPolicy, batch: int) -> None:
        """Take the next batch while the second half of this one is spent, so requests rarely wait for Redis.

        Registered as the key's refill: a request that empties the lease first waits for it instead of
        starting a second round trip."""
        task = asyncio.get_running_loop().create_task(self._top_up(key, policy, batch))
        self._refills[key] = task
        task.add_done_callback(lambda _: self._refills.pop(key, None) if self._refills.get(key) is task else None)

    async def _top_up(self, key: str, policy: RateLimitPolicy, batch: int) -> None:
        try:
            result = await self.inner.hit(key, policy, wanted=batch)
        except LimiterUnavailable:
            return  # the next request that finds the lease empty reports it (and the gateway fails open)
        lease = self._leases.get(key)
        if not result.allowed or lease is None:
            return
        now = self._clock()
        lease.left += result.granted
        lease.expires_at = now + self.lease_seconds
        lease.remaining = result.remaining
        lease.reset_at = now + result.reset_seconds
        lease.batch = result.granted
        lease.taken_at = now
        lease.spent = 0

    async def _refill(self, key: str, policy: RateLimitPolicy) -> RateLimitResult:
        now = self._clock()
        batch = self._next_batch(self._leases.get(key), policy, now)
        result = await self.inner.hit(key, policy, wanted=batch)
        if result.allowed:
            self._leases[key] = _Lease(
                left=result.granted - 1,
                expires_at=now + self.lease_seconds,
                remaining=result.remaining,
                reset_at=now + result.reset_seconds,
                batch=result.granted,
                taken_at=now,
                spent=1,
            )
            self._leases.move_to_end(key)
            if len(self._leases) > self.max_keys:
                self._leases.popitem(last=False)
            return RateLimitResult(
                True, policy.limit, result.remaining + result.granted - 1, result.reset_seconds, 0.0, result.granted
            )
        self._leases.pop(key, None)
        return result
