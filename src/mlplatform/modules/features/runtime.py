"""The features module's per-app singletons (kept in `PlatformContext.extras`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from dataclasses import dataclass, field

import structlog

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.features.adapters.feast_config import FeastSettings
from mlplatform.modules.features.adapters.files import StoreLocation
from mlplatform.modules.features.adapters.store import FeastGateway, load_feast
from mlplatform.modules.features.serving.layout import ValueDecoder
from mlplatform.modules.features.serving.metadata import MetadataCache, ProjectMeta, load_project_meta

log = structlog.get_logger("mlplatform.features")

RUNTIME_KEY = "features"


@dataclass
class FeaturesRuntime:
    platform: PlatformContext
    feast: FeastSettings
    gateway: FeastGateway
    location: StoreLocation
    metadata: MetadataCache
    _decoder: ValueDecoder | None = None
    _warmup: asyncio.Task[None] | None = field(default=None)

    @classmethod
    def create(cls, platform: PlatformContext) -> FeaturesRuntime:
        settings = platform.settings
        feast = FeastSettings.from_settings(settings, platform.object_store.root_uri)
        gateway = FeastGateway(feast)
        location = StoreLocation(platform.object_store.root_uri, settings.s3_endpoint_url, settings.s3_region)

        async def load(project: str) -> ProjectMeta:
            return await gateway.run(lambda: load_project_meta(gateway.store(project), project))

        metadata = MetadataCache(load, redis=platform.redis)
        return cls(platform=platform, feast=feast, gateway=gateway, location=location, metadata=metadata)

    async def start(self) -> None:
        """Import Feast in the background (4-6 s): the app starts serving at once; the first Feast call waits."""
        self._warmup = asyncio.create_task(self._warm(), name="features-feast-import")
        await self.metadata.start()

    async def _warm(self) -> None:
        try:
            await self.gateway.run(load_feast)
            self._decoder = await self.gateway.run(_build_decoder)
            gc.freeze()
        except Exception:
            log.warning("feast_import_failed", exc_info=True)

    @property
    def feast_loaded(self) -> bool:
        """Whether the background Feast import has finished (readiness must not wait for it)."""
        return self._warmup is not None and self._warmup.done()

    async def decoder(self) -> ValueDecoder:
        if self._decoder is None:
            self._decoder = await self.gateway.run(_build_decoder)
        return self._decoder

    async def stop(self) -> None:
        if self._warmup is not None and not self._warmup.done():
            self._warmup.cancel()
            with contextlib.suppress(BaseException):
                await self._warmup
        await self.metadata.stop()
        await self.gateway.run(self.gateway.close)


def _build_decoder() -> ValueDecoder:
    return ValueDecoder()


def features_runtime(platform: PlatformContext) -> FeaturesRuntime:
    runtime = platform.extras.get(RUNTIME_KEY)
    if not isinstance(runtime, FeaturesRuntime):
        raise RuntimeError("the features module is not started")
    return runtime
