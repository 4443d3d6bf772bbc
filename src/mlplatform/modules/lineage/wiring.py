"""The lineage module's `Module`: its routes, its outbox subscriber and the OpenLineage emitter's lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Sequence

import anyio

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.events import Subscriber
from mlplatform.kernel.module import Module
from mlplatform.modules.lineage.controllers import LineageController
from mlplatform.modules.lineage.purge import purge_project
from mlplatform.modules.lineage.subscriber import BUILDERS_MODULE, EMITTER_KEY, READY_KEY, lineage_subscriber


def _subscribers(platform: PlatformContext) -> Sequence[Subscriber]:
    return [lineage_subscriber(platform)]


def _load_openlineage() -> None:
    """Import openlineage-python and the builders (~0.4 s) in one worker thread, all at once: its package
    imports are circular, so two threads importing parts of it at the same time can fail."""
    importlib.import_module(BUILDERS_MODULE)
    importlib.import_module("openlineage.client.transport.http")


async def _prepare(platform: PlatformContext) -> None:
    await anyio.to_thread.run_sync(_load_openlineage)
    url = platform.settings.openlineage_url
    if url:
        from mlplatform.modules.lineage.openlineage.emitter import OpenLineageEmitter

        emitter = OpenLineageEmitter(platform.database, url, platform.settings.lineage)
        platform.extras[EMITTER_KEY] = emitter
        emitter.start()


async def start_lineage(platform: PlatformContext) -> None:
    # Off the start-up path: the subscriber waits for this before building its first OpenLineage event.
    platform.extras[READY_KEY] = asyncio.create_task(_prepare(platform), name="lineage-prepare")


async def stop_lineage(platform: PlatformContext) -> None:
    ready: asyncio.Task[None] | None = platform.extras.pop(READY_KEY, None)
    if ready is not None and not ready.done():
        ready.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ready
    emitter = platform.extras.pop(EMITTER_KEY, None)
    if emitter is not None:
        await emitter.stop()


module = Module(
    name="lineage",
    route_handlers=[LineageController],
    subscribers=_subscribers,
    on_startup=[start_lineage],
    on_shutdown=[stop_lineage],
    purge_project=purge_project,
    openapi_tags=[
        (
            "lineage",
            "Lineage from raw data to deployments: provenance and impact queries, OpenLineage events (Marquez).",
        )
    ],
)
