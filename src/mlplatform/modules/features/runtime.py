"""The features module's live objects for one app: Feast, the online read path and the registry port
(registered in `PlatformContext.runtimes`, found with `features_runtime`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import structlog

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Unavailable
from mlplatform.kernel.health import HealthCheck
from mlplatform.modules.features.adapters.feast_config import FeastSettings
from mlplatform.modules.features.adapters.files import StoreLocation
from mlplatform.modules.features.adapters.online_store.layout import ValueDecoder
from mlplatform.modules.features.adapters.online_store.metadata import MetadataCache, ProjectMeta, load_project_meta
from mlplatform.modules.features.adapters.online_store.resp_client import RespClient
from mlplatform.modules.features.adapters.registry_endpoint import RegistryEndpoint
from mlplatform.modules.features.adapters.store import REGISTRY_STORE, FeastGateway, load_feast, restore_environment

log = structlog.get_logger("mlplatform.features")


@dataclass
class FeaturesRuntime:
    component = "feast"  # not annotated: a class attribute, not a dataclass field
    platform: PlatformContext
    feast: FeastSettings
    gateway: FeastGateway
    location: StoreLocation
    metadata: MetadataCache
    registry_endpoint: RegistryEndpoint
    """Feast's gRPC registry server for the stock SDK (`adapters/registry_endpoint.py`)."""
    online_redis: RespClient | None = None
    """The online read path's own Redis connection (`adapters/online_store/resp_client.py`), when the online
    store is Redis."""
    _decoder: ValueDecoder | None = None
    _warmup: asyncio.Future[None] | None = field(default=None)

    async def start(self) -> None:
        """Import Feast in the background (4-6 s): the app starts serving at once; the first Feast call waits."""
        self._warmup = self._start_warmup()
        self.gateway.loading(self._warmup)
        await self.metadata.start()
        self.registry_endpoint.start()

    def _start_warmup(self) -> asyncio.Future[None]:
        """Import Feast in a daemon thread of its own; `stop()` never waits for it.

        A daemon thread is dropped when the process exits, whereas a worker-pool thread would be joined:
        a process stopped during the import (seconds, more under load) would wait for it. The import
        touches nothing `stop()` releases. Feast calls made meanwhile wait for the returned future on the
        event loop (`FeastGateway.loading`), holding no thread.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not done.done():
                done.set_result(None)

        def warm() -> None:
            started = time.monotonic()
            try:
                load_feast()
                log.info("feast_loaded", seconds=round(time.monotonic() - started, 2))
                self._decoder = _build_decoder()
                gc.freeze()  # Feast's many long-lived objects: out of every later full collection
            except Exception:
                log.warning("feast_import_failed", exc_info=True)
            finally:
                restore_environment()
            with contextlib.suppress(RuntimeError):  # the loop is closed: the app already stopped
                loop.call_soon_threadsafe(settle)

        threading.Thread(target=warm, name="features-feast-import", daemon=True).start()
        return done

    @property
    def feast_loaded(self) -> bool:
        """Whether the background Feast import has finished (readiness must not wait for it)."""
        return self._warmup is not None and self._warmup.done()

    def require_online_redis(self) -> RespClient:
        if self.online_redis is None:
            raise Unavailable("the online store is not Redis (MLPLATFORM_REDIS_URL)", component="redis")
        return self.online_redis

    async def decoder(self) -> ValueDecoder:
        if self._decoder is None:
            self._decoder = await self.gateway.run(_build_decoder)
        return self._decoder

    async def check_registry(self) -> None:
        """Readiness (not required): Feast's SQL registry answers."""
        if not self.feast_loaded:
            raise RuntimeError("Feast is still loading (first seconds after start)")
        await self.gateway.run(lambda: self.gateway.store(REGISTRY_STORE).registry.list_projects(allow_cache=False))

    async def check_registry_endpoint(self) -> None:
        """Readiness (not required): the gRPC registry port for the stock SDK is open when enabled."""
        self.registry_endpoint.check()

    async def stop(self) -> None:
        """Never waits for the Feast import (see `_start_warmup`): closing only disposes of the registry
        engines of stores already built, outside the Feast limiter, whose slots may all be busy. The registry
        port closes first: its calls use those stores."""
        await self.registry_endpoint.stop()
        await self.metadata.stop()
        if self.online_redis is not None:
            await self.online_redis.aclose()
        await anyio.to_thread.run_sync(self.gateway.close)


def _build_decoder() -> ValueDecoder:
    return ValueDecoder()


def build_runtime(platform: PlatformContext) -> FeaturesRuntime:
    """`Module.runtime`: builds the runtime without I/O (`start` imports Feast and opens the ports)."""
    settings = platform.settings
    feast = FeastSettings.from_settings(settings, platform.object_store.root_uri)
    gateway = FeastGateway(feast)
    location = StoreLocation(platform.object_store.root_uri, settings.s3_endpoint_url, settings.s3_region)

    async def load(project: str) -> ProjectMeta:
        return await gateway.run(lambda: load_project_meta(gateway.store(project), project))

    metadata = MetadataCache(load, redis=platform.redis)
    online_redis = RespClient(feast.redis_url) if feast.online_is_redis and feast.redis_url else None
    return FeaturesRuntime(
        platform=platform,
        feast=feast,
        gateway=gateway,
        location=location,
        metadata=metadata,
        registry_endpoint=RegistryEndpoint(platform, gateway),
        online_redis=online_redis,
    )


def features_runtime(platform: PlatformContext) -> FeaturesRuntime:
    """The running runtime; a 503 naming `feast` when the module is not running in this process."""
    return platform.runtimes.get(FeaturesRuntime)


def health_checks(platform: PlatformContext) -> Sequence[HealthCheck]:
    async def registry() -> None:
        await features_runtime(platform).check_registry()

    async def registry_port() -> None:
        await features_runtime(platform).check_registry_endpoint()

    return [
        HealthCheck("feature_registry", registry, required=False, timeout_seconds=10.0),
        HealthCheck("feast_registry_endpoint", registry_port, required=False),
    ]
