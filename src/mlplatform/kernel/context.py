"""The live collaborators of one app instance, built from settings and shared by every module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mlplatform.kernel.db import Database
from mlplatform.kernel.errors import Unavailable
from mlplatform.kernel.health import HealthCheck, HealthRegistry
from mlplatform.kernel.runtimes import Runtimes
from mlplatform.kernel.secrets import SecretBox, secret_box
from mlplatform.kernel.storage import ObjectStore, object_store_from_url
from mlplatform.settings import Settings

if TYPE_CHECKING:
    from litestar import Request
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from mlplatform.kernel.events import Dispatcher

RequestCommitHook = Callable[["Request[Any, Any, Any]", "AsyncSession"], Awaitable[None]]


class PlatformContext:
    """A plain class on purpose: Litestar passes injected instances through untouched, and the Redis
    client library is only imported when Redis is configured (it costs ~0.4 s at start-up)."""

    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        object_store: ObjectStore,
        redis: Redis | None,
        secrets: SecretBox,
    ) -> None:
        self.settings = settings
        self.database = database
        self.object_store = object_store
        self.redis = redis
        self.secrets = secrets
        """Encrypts and decrypts the secrets the platform stores (`kernel/secrets.py`)."""
        self.health = HealthRegistry()
        self.dispatcher: Dispatcher | None = None
        self.runtimes = Runtimes()
        """The modules' live objects, looked up by class (`kernel/runtimes.py`)."""
        self.before_request_commit: list[RequestCommitHook] = []
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
        from redis.asyncio import Redis

        redis_client = Redis.from_url(
            settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30
        )
    context = PlatformContext(
        settings=settings, database=database, object_store=store, redis=redis_client, secrets=secret_box(settings)
    )
    context.health.add(HealthCheck("database", database.check))
    context.health.add(HealthCheck("object_store", store.check))
    if redis_client is not None:
        client = redis_client

        async def ping_redis() -> None:
            await client.ping()  # type: ignore[misc]  # redis-py's stubs mix sync and async

        context.health.add(HealthCheck("redis", ping_redis))
    return context
