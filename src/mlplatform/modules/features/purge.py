"""The features module's part of a project's purge (`kernel/purge.py`).

Removed:
- the Feast project in the registry: entities, data sources, feature views, feature services, saved datasets,
  permissions, materialization records and version history (an empty project entry of the name is left);
- online rows: on Redis, every key of the Feast project (any view, including views deleted earlier), matched
  exactly — Feast's own clean-up matches keys by suffix and would also delete another project's rows when one
  name ends with the other (`p` and `shop`); on SQLite, the project's tables (Feast's `teardown` would delete
  the whole file, every project's rows);
- files in the object store under the project's folder (`projects/<project>/`) and the platform's area for it
  (`features/<project>/`: training sets, uploaded entity rows);
- the module's own rows: training dataset records, validation reports and the project's connection grants (a
  new project of the name is granted nothing).
Data in external connections (a granted PostgreSQL database or S3 bucket) belongs to its owner and is kept, as
are the connections themselves.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.purge import delete_objects_under
from mlplatform.modules.features import repositories
from mlplatform.modules.features.adapters.feast_config import feast_project
from mlplatform.modules.features.runtime import FeaturesRuntime, features_runtime

if TYPE_CHECKING:
    from redis.asyncio import Redis

SCAN_COUNT = 1000
_HEADER = struct.Struct("<II")
MAX_JOIN_KEYS = 64


def project_prefixes(project: str) -> tuple[str, ...]:
    """Where the project's files live in the object store."""
    return f"projects/{project}/", f"features/{project}/"


async def purge_project(platform: PlatformContext, project: str) -> Mapping[str, int]:
    runtime = features_runtime(platform)
    removed = await runtime.gateway.run(purge_feast, runtime, project)
    if runtime.feast.online_is_redis:
        removed["online_keys"] = await delete_online_keys(platform.require_redis(), feast_project(project))
    runtime.gateway.forget(project)
    await runtime.metadata.invalidate(project)
    files = 0
    for prefix in project_prefixes(project):
        files += await delete_objects_under(platform.object_store, prefix)
    removed["files"] = files
    async with platform.database.transaction() as session:
        removed.update(await repositories.delete_project_rows(session, project))
    return removed


def purge_feast(runtime: FeaturesRuntime, project: str) -> dict[str, int]:
    """Blocking (worker thread): the registry's objects of the project, and its SQLite online tables."""
    from feast.errors import ProjectNotFoundException
    from feast.project import Project

    store = runtime.gateway.store(project)
    registry = store.registry
    name = store.project
    views = [
        *registry.list_feature_views(name, allow_cache=False),
        *registry.list_stream_feature_views(name, allow_cache=False),
    ]
    counts = {
        "entities": len(registry.list_entities(name, allow_cache=False)),
        "data_sources": len(registry.list_data_sources(name, allow_cache=False)),
        "feature_views": len(views) + len(registry.list_on_demand_feature_views(name, allow_cache=False)),
        "feature_services": len(registry.list_feature_services(name, allow_cache=False)),
    }
    if not runtime.feast.online_is_redis and views:
        store._get_provider().update_infra(
            project=name,
            tables_to_delete=views,
            tables_to_keep=[],
            entities_to_delete=[],
            entities_to_keep=[],
            partial=False,
        )
    with contextlib.suppress(ProjectNotFoundException):
        registry.delete_project(name, commit=True)
    _delete_version_history(registry, name)
    # An empty entry of the name again: other processes keep a store of the project whose cached registry
    # says it exists, and Feast then writes objects without creating the project first.
    registry.apply_project(Project(name=name), commit=True)
    return counts


def _delete_version_history(registry: Any, name: str) -> None:
    """`delete_project` leaves the SQL registry's feature view version history behind."""
    engine = getattr(registry, "write_engine", None)
    if engine is None:
        return
    from feast.infra.registry.sql import feature_view_version_history as history

    with engine.begin() as connection:
        connection.execute(history.delete().where(history.c.project_id == name))


async def delete_online_keys(redis: Redis, name: str) -> int:
    """Delete every online-store hash of the Feast project `name` (Feast's Redis layout: a serialized entity
    key followed by the project's name). Returns how many keys were deleted."""
    suffix = name.encode()
    removed = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=b"*" + suffix, count=SCAN_COUNT):
        if entity_key_project(key) == suffix:
            batch.append(key)
        if len(batch) >= SCAN_COUNT:
            removed += int(await redis.delete(*batch))
            batch.clear()
    if batch:
        removed += int(await redis.delete(*batch))
    return removed


def entity_key_project(key: bytes) -> bytes | None:
    """The project part of an online-store key: what follows a complete serialized entity key (v3: u32 count,
    then per join key u32 type, u32 length, name, then per value u32 type, u32 length, bytes); None when the
    key is not one (another use of Redis: rate limits, caches, the job queue)."""
    try:
        (count,) = struct.unpack_from("<I", key, 0)
        if not 0 < count <= MAX_JOIN_KEYS:
            return None
        position = 4
        for index in range(2 * count):
            kind, length = _HEADER.unpack_from(key, position)
            if index < count and kind != 2:  # join key names are STRING
                return None
            position += _HEADER.size + length
        if position >= len(key):
            return None
        return key[position:]
    except struct.error:
        return None
