"""What the online read path needs to know about a project's feature views, kept in process.

Loaded from Feast's registry in a worker thread, then read without any I/O. Refreshed when a
definition changes through the platform (in this process at once, in other replicas through a
Redis message) and on a timer, for changes made with `feast apply` directly against the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from mlplatform.modules.features.adapters.online_store.layout import feature_field, key_header, timestamp_field

if TYPE_CHECKING:
    from feast import FeatureStore
    from redis.asyncio import Redis

log = structlog.get_logger("mlplatform.features")

REFRESH_SECONDS = 30.0
"""Metadata older than this is reloaded in the background (the stale copy keeps serving meanwhile)."""
INVALIDATION_CHANNEL = "mlplatform:features:definitions"


@dataclass(frozen=True)
class ViewMeta:
    name: str
    join_keys: tuple[str, ...]
    """Sorted, as in the serialized entity key."""
    key_types: tuple[int, ...]
    """Feast ValueType number of each join key (same order)."""
    features: dict[str, bytes]
    """Feature name -> hash field, in the view's schema order."""
    dtypes: dict[str, str]
    ttl_seconds: float
    """0: values never expire."""
    online: bool

    @property
    def header(self) -> bytes:
        return key_header(self.join_keys)

    @property
    def ts_field(self) -> bytes:
        return timestamp_field(self.name)


@dataclass
class ProjectMeta:
    project: str
    feast_project: str
    views: dict[str, ViewMeta]
    services: dict[str, tuple[tuple[str, tuple[str, ...]], ...]]
    """Service -> ((view, features), ...); an empty feature tuple means every feature of the view."""
    loaded_at: float = field(default_factory=time.monotonic)
    plans: dict[Any, Any] = field(default_factory=dict)
    """Resolved requests (see `online.Plan`), valid for this snapshot only."""

    @property
    def key_suffix(self) -> bytes:
        return self.feast_project.encode("utf-8")


def load_project_meta(store: FeatureStore, project: str) -> ProjectMeta:
    """Blocking: read the registry (no cache) and build the snapshot."""
    views: dict[str, ViewMeta] = {}
    for view in store.registry.list_feature_views(store.project, allow_cache=False):
        columns = sorted(view.entity_columns, key=lambda column: column.name)
        views[view.name] = ViewMeta(
            name=view.name,
            join_keys=tuple(column.name for column in columns),
            key_types=tuple(int(column.dtype.to_value_type().value) for column in columns),
            features={f.name: feature_field(view.name, f.name) for f in view.features},
            dtypes={f.name: str(f.dtype) for f in view.features},
            ttl_seconds=view.ttl.total_seconds() if view.ttl else 0.0,
            online=bool(view.online),
        )
    services: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}
    for service in store.registry.list_feature_services(store.project, allow_cache=False):
        services[service.name] = tuple(
            (projection.name, tuple(f.name for f in projection.features))
            for projection in service.feature_view_projections
        )
    return ProjectMeta(project=project, feast_project=store.config.project, views=views, services=services)


Loader = Callable[[str], Awaitable[ProjectMeta]]


class MetadataCache:
    """Per-project snapshots with stale-while-revalidate and cross-replica invalidation."""

    def __init__(self, loader: Loader, *, redis: Redis | None = None, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._loader = loader
        self._redis = redis
        self._refresh_seconds = refresh_seconds
        self._snapshots: dict[str, ProjectMeta] = {}
        self._loading: dict[str, asyncio.Task[ProjectMeta]] = {}
        self._listener: asyncio.Task[None] | None = None

    async def get(self, project: str) -> ProjectMeta:
        snapshot = self._snapshots.get(project)
        if snapshot is None:
            return await self._load(project)
        if time.monotonic() - snapshot.loaded_at > self._refresh_seconds and project not in self._loading:
            self._start_load(project)
        return snapshot

    async def refresh(self, project: str) -> ProjectMeta:
        """Reload now (after a definition change made by this process)."""
        self._snapshots.pop(project, None)
        return await self._load(project)

    async def invalidate(self, project: str) -> None:
        """Drop this process's snapshot and tell the other replicas to drop theirs."""
        self._snapshots.pop(project, None)
        if self._redis is not None:
            try:
                await self._redis.publish(INVALIDATION_CHANNEL, project)
            except Exception:  # other replicas still refresh on their timer
                log.warning("feature_metadata_broadcast_failed", project=project, exc_info=True)

    async def _load(self, project: str) -> ProjectMeta:
        task = self._loading.get(project) or self._start_load(project)
        return await asyncio.shield(task)

    def _start_load(self, project: str) -> asyncio.Task[ProjectMeta]:
        async def load() -> ProjectMeta:
            try:
                snapshot = await self._loader(project)
                self._snapshots[project] = snapshot
                return snapshot
            finally:
                self._loading.pop(project, None)

        task = asyncio.get_running_loop().create_task(load())
        self._loading[project] = task
        task.add_done_callback(_ignore_result)
        return task

    async def start(self) -> None:
        if self._redis is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(self._redis), name="features-metadata-listener")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(BaseException):
                await self._listener
            self._listener = None
        for task in list(self._loading.values()):
            task.cancel()

    async def _listen(self, redis: Redis) -> None:
        while True:
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(INVALIDATION_CHANNEL)
                while True:
                    # Short polls: the shared client has a 2 s socket timeout meant for request paths.
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message and message.get("type") == "message":
                        data = message["data"]
                        self._snapshots.pop(data.decode() if isinstance(data, bytes) else str(data), None)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(5.0)  # Redis away: the refresh timer still bounds staleness
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def _ignore_result(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
