"""The purge deletes a project's online rows in Redis and nothing else: not the rows of a project whose name
ends with the purged one's, nor the platform's other keys."""

from __future__ import annotations

from redis.asyncio import Redis

from mlplatform.modules.features.purge import delete_online_keys
from tests.unit.features.test_purge_keys import feast_key


async def test_only_the_projects_keys_are_deleted(clean_redis: str) -> None:
    redis = Redis.from_url(clean_redis)
    try:
        mine = [feast_key("p", driver_id=n) for n in range(2500)] + [feast_key("p", customer_id="c", driver_id=1)]
        others = [feast_key("shop", driver_id=1), feast_key("p_x", driver_id=1), b"ratelimit:user:p", b"cache:p"]
        async with redis.pipeline(transaction=False) as pipe:
            for key in mine + others:
                pipe.hset(key, b"_ts:view", b"\x08\x01")
            await pipe.execute()
        assert await delete_online_keys(redis, "p") == len(mine)
        assert await redis.exists(*mine) == 0
        assert await redis.exists(*others) == len(others)
        assert await delete_online_keys(redis, "p") == 0
    finally:
        await redis.aclose()
