"""Reading definitions from Feast's registry and describing them as JSON (blocking: worker threads).

Types, type names and the checks of declared types against data also live here, shared by the
builders in `definitions.py`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, cast

import msgspec
from feast import Entity as FeastEntity
from feast import FeatureService as FeastService
from feast import FeatureStore, FileSource, PushSource, ValueType
from feast import FeatureView as FeastView
from feast.data_source import DataSource as FeastSource
from feast.errors import (
    DataSourceObjectNotFoundException,
    EntityNotFoundException,
    FeatureServiceNotFoundException,
    FeatureViewNotFoundException,
)
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource
from feast.types import Array, Bool, Bytes, FeastType, Float32, Float64, Int32, Int64, String, UnixTimestamp

from mlplatform.kernel.errors import Invalid, NotFound
from mlplatform.modules.features import schemas
from mlplatform.modules.features.adapters.offline import source_uri, view_batch_source
from mlplatform.modules.features.adapters.postgres import pg_query, pg_table
from mlplatform.modules.features.connections.resolved import CONNECTION_TAG, connection_name

EXPECTATIONS_TAG = "mlplatform.expectations"

SCALAR_TYPES: dict[str, FeastType] = {
    "int32": Int32,
    "int64": Int64,
    "float32": Float32,
    "float64": Float64,
    "string": String,
    "bytes": Bytes,
    "bool": Bool,
    "unix_timestamp": UnixTimestamp,
}
NAMES_BY_TYPE = {str(t): name for name, t in SCALAR_TYPES.items()}
ENTITY_TYPES = {
    "int64": ValueType.INT64,
    "int32": ValueType.INT32,
    "string": ValueType.STRING,
    "bytes": ValueType.BYTES,
}
ENTITY_TYPE_NAMES = {v: k for k, v in ENTITY_TYPES.items()}
ENTITY_TO_FIELD = {"int64": "int64", "int32": "int32", "string": "string", "bytes": "bytes"}

# Arrow/PostgreSQL column types each declared dtype accepts.
_COMPATIBLE = {
    "int32": ("int8", "int16", "int32", "smallint", "integer"),
    "int64": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "smallint", "integer", "bigint"),
    "float32": ("float", "halffloat", "real"),
    "float64": ("float", "double", "halffloat", "real", "double precision", "numeric", "decimal"),
    "string": ("string", "large_string", "text", "character varying", "varchar", "character", "uuid"),
    "bytes": ("binary", "large_binary", "bytea"),
    "bool": ("bool", "boolean"),
    "unix_timestamp": ("timestamp", "date", "int64", "bigint"),
}


def parse_dtype(dtype: str) -> FeastType:
    text = dtype.strip().lower()
    if text.startswith("array<") and text.endswith(">"):
        inner = SCALAR_TYPES.get(text[6:-1].strip())
        if inner is not None:
            return Array(inner)
    scalar = SCALAR_TYPES.get(text)
    if scalar is None:
        allowed = ", ".join(SCALAR_TYPES)
        raise ValueError(f"unknown type {dtype!r}: one of {allowed}, or array<type>")
    return scalar


def dtype_name(dtype: Any) -> str:
    if isinstance(dtype, Array):
        return f"array<{NAMES_BY_TYPE.get(str(dtype.base_type), str(dtype.base_type).lower())}>"
    return NAMES_BY_TYPE.get(str(dtype), str(dtype).lower())


def compatible(declared: str, actual: str) -> bool:
    actual = actual.lower()
    if declared.startswith("array<"):
        return actual.startswith(("list", "large_list", "fixed_size_list")) or actual.endswith("[]")
    return any(actual == c or actual.startswith(c + "[") or actual.startswith(c + "(") for c in _COMPATIBLE[declared])


# ---------------------------------------------------------------- reading


def get_entity(store: FeatureStore, name: str) -> FeastEntity:
    if name.startswith("__"):
        raise NotFound(f"entity {name!r} not found")
    try:
        return store.registry.get_entity(name, store.project, allow_cache=False)
    except EntityNotFoundException:
        raise NotFound(f"entity {name!r} not found") from None


def get_source(store: FeatureStore, name: str) -> FeastSource:
    try:
        return store.registry.get_data_source(name, store.project, allow_cache=False)
    except DataSourceObjectNotFoundException:
        raise NotFound(f"data source {name!r} not found") from None


def get_view(store: FeatureStore, name: str) -> FeastView:
    try:
        return store.registry.get_feature_view(name, store.project, allow_cache=False)
    except FeatureViewNotFoundException:
        raise NotFound(f"feature view {name!r} not found") from None


def get_service(store: FeatureStore, name: str) -> FeastService:
    try:
        return store.registry.get_feature_service(name, store.project, allow_cache=False)
    except FeatureServiceNotFoundException:
        raise NotFound(f"feature service {name!r} not found") from None


def list_entities(store: FeatureStore) -> list[FeastEntity]:
    entities = store.registry.list_entities(store.project, allow_cache=False)
    return sorted((e for e in entities if not e.name.startswith("__")), key=lambda e: e.name)


def list_sources(store: FeatureStore) -> list[FeastSource]:
    return sorted(store.registry.list_data_sources(store.project, allow_cache=False), key=lambda s: s.name)


def list_views(store: FeatureStore) -> list[FeastView]:
    return sorted(store.registry.list_feature_views(store.project, allow_cache=False), key=lambda v: v.name)


def list_services(store: FeatureStore) -> list[FeastService]:
    return sorted(store.registry.list_feature_services(store.project, allow_cache=False), key=lambda s: s.name)


# ---------------------------------------------------------------- Feast -> JSON


def _utc(value: datetime | None) -> datetime | None:
    """Feast's registry hands back naive UTC datetimes."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def entity_out(entity: FeastEntity) -> schemas.Entity:
    return schemas.Entity(
        name=entity.name,
        join_key=entity.join_key,
        value_type=ENTITY_TYPE_NAMES.get(entity.value_type, entity.value_type.name.lower()),
        description=entity.description,
        tags=dict(entity.tags),
        owner=entity.owner,
        created_at=_utc(entity.created_timestamp),
        updated_at=_utc(entity.last_updated_timestamp),
    )


def source_kind(source: FeastSource) -> str:
    if isinstance(source, PushSource):
        return "push"
    if isinstance(source, PostgreSQLSource):
        return "postgres"
    if isinstance(source, FileSource):
        return "parquet"
    return type(source).__name__


def source_out(store: FeatureStore, source: FeastSource) -> schemas.DataSource:
    kind = source_kind(source)
    return schemas.DataSource(
        name=source.name,
        kind=kind,
        timestamp_field=source.timestamp_field or None,
        created_timestamp_column=source.created_timestamp_column or None,
        connection=connection_name(source.tags),
        path=source.path if isinstance(source, FileSource) else None,
        uri=_shown_uri(store, source)
        if isinstance(source, FileSource) and connection_name(source.tags) is None
        else None,
        table=pg_table(source) if isinstance(source, PostgreSQLSource) else None,
        query=pg_query(source) if isinstance(source, PostgreSQLSource) else None,
        batch_source=source.batch_source.name if isinstance(source, PushSource) and source.batch_source else None,
        field_mapping=dict(source.field_mapping or {}),
        description=source.description,
        tags={k: v for k, v in source.tags.items() if k != CONNECTION_TAG},
        owner=source.owner,
        created_at=_utc(getattr(source, "created_timestamp", None)),
        updated_at=_utc(getattr(source, "last_updated_timestamp", None)),
    )


def _shown_uri(store: FeatureStore, source: FileSource) -> str | None:
    """Where the source's data is; None for a stored path the rules refuse (reading it fails with the reason)."""
    try:
        return source_uri(store.config, source)
    except Invalid:
        return None


def view_version(view: FeastView) -> str:
    """A fingerprint of the view's definition (not of its metadata timestamps)."""
    spec = view.to_proto().spec
    return hashlib.sha256(spec.SerializeToString(deterministic=True)).hexdigest()[:16]


def view_expectations(view: FeastView) -> schemas.Expectations | None:
    raw = view.tags.get(EXPECTATIONS_TAG)
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw, type=schemas.Expectations)
    except msgspec.DecodeError:
        return None


def view_source_name(view: FeastView) -> str:
    stream = view.stream_source
    return stream.name if stream is not None else view_batch_source(view).name


def view_out(view: FeastView) -> schemas.FeatureView:
    return schemas.FeatureView(
        name=view.name,
        entities=list(view.entities),
        join_keys=[column.name for column in view.entity_columns],
        features=[
            schemas.FieldSpec(name=f.name, dtype=cast(schemas.FeatureType, dtype_name(f.dtype))) for f in view.features
        ],
        source=view_source_name(view),
        ttl_seconds=int(view.ttl.total_seconds()) if view.ttl else 0,
        online=bool(view.online),
        description=view.description,
        tags={k: v for k, v in view.tags.items() if k != EXPECTATIONS_TAG},
        owner=view.owner,
        expectations=view_expectations(view),
        version=view_version(view),
        created_at=_utc(view.created_timestamp),
        updated_at=_utc(view.last_updated_timestamp),
    )


def service_out(service: FeastService) -> schemas.FeatureService:
    refs = [f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features]
    return schemas.FeatureService(
        name=service.name,
        features=refs,
        feature_views=[p.name for p in service.feature_view_projections],
        description=service.description,
        tags=dict(service.tags),
        owner=service.owner,
        created_at=_utc(service.created_timestamp),
        updated_at=_utc(service.last_updated_timestamp),
    )
