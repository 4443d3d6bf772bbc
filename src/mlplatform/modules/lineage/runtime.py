"""The lineage module's live objects for one app: the OpenLineage emitter, and the task that prepares it.

openlineage-python costs ~0.4 s to import, so `start()` only launches a background task (`prepare`) that
imports it and the event builders in a worker thread and then starts the emitter (when an endpoint is
configured); the outbox subscriber waits for that task before it builds its first OpenLineage event.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from typing import TYPE_CHECKING, Any

import anyio

from mlplatform.kernel.context import PlatformContext

if TYPE_CHECKING:
    from mlplatform.modules.lineage.openlineage.emitter import OpenLineageEmitter

BUILDERS_MODULE = "mlplatform.modules.lineage.openlineage.registry"
"""Imported on first use (it imports openlineage-python)."""


def openlineage_builders() -> dict[str, Any]:
    registry = importlib.import_module(BUILDERS_MODULE)
    builders: dict[str, Any] = registry.ALL_BUILDERS
    return builders


def _load_openlineage() -> None:
    """Import openlineage-python and the builders in one worker thread, all at once: its package imports are
    circular, so two threads importing parts of it at the same time can fail."""
    importlib.import_module(BUILDERS_MODULE)
    importlib.import_module("openlineage.client.transport.http")


class LineageRuntime:
    component = "lineage"

    def __init__(self, platform: PlatformContext) -> None:
        self.platform = platform
        self.emitter: OpenLineageEmitter | None = None
        """Sends stored OpenLineage events after commit; None without `MLPLATFORM_OPENLINEAGE_URL`."""
        self._prepared: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Off the start-up path: the subscriber waits for this before building its first OpenLineage event.
        self._prepared = asyncio.create_task(self._prepare(), name="lineage-prepare")

    async def _prepare(self) -> None:
        await anyio.to_thread.run_sync(_load_openlineage)
        url = self.platform.settings.openlineage_url
        if url:
            from mlplatform.modules.lineage.openlineage.emitter import OpenLineageEmitter

            emitter = OpenLineageEmitter(self.platform.database, url, self.platform.settings.lineage)
            self.emitter = emitter
            emitter.start()

    async def prepared(self) -> None:
        """Return once openlineage-python is loaded and the emitter started (at once when not started)."""
        if self._prepared is not None:
            await asyncio.shield(self._prepared)

    async def stop(self) -> None:
        prepared, self._prepared = self._prepared, None
        if prepared is not None and not prepared.done():
            prepared.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prepared
        emitter, self.emitter = self.emitter, None
        if emitter is not None:
            await emitter.stop()


def build_runtime(platform: PlatformContext) -> LineageRuntime:
    return LineageRuntime(platform)
