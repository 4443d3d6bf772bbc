"""Online reads: the Redis fast path, or Feast's SDK for the SQLite online store."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from mlplatform.kernel.errors import Invalid, NotFound
from mlplatform.modules.features.adapters.online_store.metadata import ProjectMeta
from mlplatform.modules.features.adapters.online_store.read_path import (
    Plan,
    apply_statuses,
    check_entities,
    read_redis,
    resolve,
    validate_entity_values,
)
from mlplatform.modules.features.runtime import FeaturesRuntime
from mlplatform.modules.features.schemas import OnlineFeaturesRequest

_encoder = msgspec.json.Encoder()

STALE_RETRY_SECONDS = 1.0
"""An unknown feature in a snapshot older than this triggers one reload (it may have just been applied)."""


async def _plan(
    runtime: FeaturesRuntime, project: str, feature_service: str | None, features: Sequence[str], full: bool
) -> tuple[ProjectMeta, Plan]:
    meta = await runtime.metadata.get(project)
    try:
        return meta, resolve(meta, feature_service=feature_service, features=features, full_feature_names=full)
    except (Invalid, NotFound):
        if time.monotonic() - meta.loaded_at < STALE_RETRY_SECONDS:
            raise
    meta = await runtime.metadata.refresh(project)
    return meta, resolve(meta, feature_service=feature_service, features=features, full_feature_names=full)


async def online_features(
    runtime: FeaturesRuntime,
    project: str,
    *,
    entities: Mapping[str, Sequence[Any]],
    feature_service: str | None,
    features: Sequence[str],
    full_feature_names: bool,
) -> dict[str, Any]:
    """Feast's feature-server response for the request (columnar; entity columns first)."""
    if not entities:
        raise Invalid("entities: give at least one join key column", field="entities")
    meta, plan = await _plan(runtime, project, feature_service, features, full_feature_names)
    if runtime.feast.online_is_redis:
        client = runtime.require_online_redis()
        return await read_redis(client, meta, plan, entities, await runtime.decoder())
    check_entities(plan, entities)
    validate_entity_values(plan, entities)
    return await _sdk_read(runtime, project, plan, entities, feature_service, full_feature_names)


async def encoded_online_features(runtime: FeaturesRuntime, project: str, request: OnlineFeaturesRequest) -> bytes:
    """`online_features` for a decoded request, encoded once with msgspec (the Litestar handlers and the
    express routes both answer with these bytes as they are)."""
    answer = await online_features(
        runtime,
        project,
        entities=request.entities,
        feature_service=request.feature_service,
        features=request.features,
        full_feature_names=request.full_feature_names,
    )
    return _encoder.encode(answer)


async def _sdk_read(
    runtime: FeaturesRuntime,
    project: str,
    plan: Plan,
    entities: Mapping[str, Sequence[Any]],
    feature_service: str | None,
    full_feature_names: bool,
) -> dict[str, Any]:
    gateway = runtime.gateway

    def read() -> dict[str, Any]:
        from feast.feature_server_utils import convert_response_to_dict

        store = gateway.store(project)
        wanted: Any = store.get_feature_service(feature_service) if feature_service else list(plan.refs)
        response = store.get_online_features(
            features=wanted,
            entity_rows={k: list(v) for k, v in entities.items()},
            full_feature_names=full_feature_names,
        )
        return convert_response_to_dict(response.proto)

    answer = await gateway.run(read)
    answer.pop("status", None)
    return apply_statuses(answer, plan)
