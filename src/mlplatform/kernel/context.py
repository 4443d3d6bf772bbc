"""The live collaborators of one app instance, built from settings and shared by every module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import Database
from mlplatform.kernel.errors import Unavailable
from mlplatform.kernel.events import Dispatcher
from mlplatform.kernel.health import HealthCheck, HealthRegistry
from mlplatform.kernel.storage import ObjectStore, object_store_from_url
from mlplatform.settings import Settings


@dataclass
class PlatformContext:
    settings: Settings
    database: Database
    object_store: ObjectStore
    redis: Redis | None
    health: HealthRegistry = field(default_factory=HealthRegistry)
    dispatcher: Dispatcher | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    """Module-owned singletons keyed by module name (e.g. the gateway's key ring)."""
    before_request_commit: list[Callable[[Request[Any, Any, Any], AsyncSession], Awaitable[None]]] = field(
        default_factory=list
    )
    """Run inside a request's transaction after its handler succeeded, just before the commit (audit)."""

    def require_redis(self) -> Redis:
        if self.redis is None:
            raise Unavailable("this feature needs Redis (MLPLATFORM_REDIS_URL)", component="redis")
        return self.redis

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        close = getattr(self.object_store, "close", None)
        if close is not None:
            await close()
        await self.database.dispose()


def build_context(settings: Settings) -> PlatformContext:
    """Create (not connect) every collaborator; connections open lazily on first use."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    store = object_store_from_url(
        settings.resolved_storage_url, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region
    )
    redis_client: Redis | None = None
    if settings.redis_url:
        redis_client = Redis.from_url(
            settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30
        )
    context = PlatformContext(settings=settings, database=database, object_store=store, redis=redis_client)
    context.health.add(HealthCheck("database", database.check))
    context.health.add(HealthCheck("object_store", store.check))
    if redis_client is not None:
        client = redis_client

        async def ping_redis() -> None:
            await client.ping()  # type: ignore[misc]  # redis-py's stubs mix sync and async

        context.health.add(HealthCheck("redis", ping_redis))
    return context
