"""SAQ's Redis queue as the delivery mechanism for jobs.

`kernel_jobs` stays the source of truth: SAQ only carries "run job X" messages. Every hand-over
gets a fresh SAQ key (recorded as the job's `queue_key`), SAQ never retries by itself, and retries
(after an error, or after a worker died and stopped heartbeating) are decided from the record — so a
SAQ sweep racing a dequeue, or a flushed Redis, can at worst cause a duplicate delivery, which the
record's atomic claim turns into a no-op.
"""

from __future__ import annotations

from redis.asyncio import Redis
from saq.queue.redis import RedisQueue

QUEUE_NAME = "mlplatform-jobs"
SWEPT_ERROR = "worker lost: no heartbeat (the worker died or hung)"


def platform_queue(redis_url: str) -> RedisQueue:
    """A queue with its own Redis connection pool (workers block on BLMOVE; the app's client has a
    short socket timeout meant for request paths)."""
    client = Redis.from_url(redis_url, socket_connect_timeout=5.0, health_check_interval=30)
    return RedisQueue(client, name=QUEUE_NAME, swept_error_message=SWEPT_ERROR)
