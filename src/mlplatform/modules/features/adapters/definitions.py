"""Definitions as JSON -> Feast objects, with the checks that keep bad definitions out of the registry.

Blocking (Feast): everything here runs in a worker thread. Every check runs before anything is
applied, and each failure names the offending field, so an invalid definition leaves the registry
untouched.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple

import msgspec
from feast import Entity as FeastEntity
from feast import FeatureService as FeastService
from feast import FeatureStore, Field, FileSource, PushSource
from feast import FeatureView as FeastView
from feast.data_source import DataSource as FeastSource
from feast.errors import (
    DataSourceObjectNotFoundException,
    EntityNotFoundException,
    FeatureServiceNotFoundException,
    FeatureViewNotFoundException,
)
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource

from mlplatform.kernel.errors import Conflict, Invalid, Unavailable
from mlplatform.kernel.storage.project_paths import InvalidPath, normalize_path, project_key
from mlplatform.modules.features import schemas
from mlplatform.modules.features.adapters import replacement
from mlplatform.modules.features.adapters.offline import (
    OFFLINE_ERRORS,
    column_types,
    offline_project,
    view_batch_source,
)
from mlplatform.modules.features.adapters.registry import (
    ENTITY_TO_FIELD,
    ENTITY_TYPE_NAMES,
    ENTITY_TYPES,
    EXPECTATIONS_TAG,
    SCALAR_TYPES,
    compatible,
    get_entity,
    get_service,
    get_source,
    get_view,
    list_services,
    list_sources,
    list_views,
    parse_dtype,
    view_source_name,
)
from mlplatform.modules.features.connections import s3_location
from mlplatform.modules.features.connections.resolved import (
    CONNECTION_TAG,
    RESERVED_TAG_PREFIX,
    PostgresConnection,
    S3Connection,
    connection_for,
    connection_name,
)


class Built(NamedTuple):
    """A validated Feast object, ready to apply; `created` is false when it replaces one of the same name."""

    obj: Any
    created: bool


def _current(store: FeatureStore, getter: str, name: str, *, replace: bool, what: str) -> Any:
    """The registered object named `name` (read with `store.registry.<getter>`), or None. Without `replace`
    an existing one is a 422 on `name`."""
    try:
        existing = getattr(store.registry, getter)(name, store.project, allow_cache=False)
    except (
        EntityNotFoundException,
        DataSourceObjectNotFoundException,
        FeatureViewNotFoundException,
        FeatureServiceNotFoundException,
    ):
        return None
    if not replace:
        raise Invalid(f"name: {what} named {name!r} already exists", field="name")
    return existing


# ---------------------------------------------------------------- JSON -> Feast (validated)


def build_entity(store: FeatureStore, data: schemas.EntityCreate, *, replace: bool = False) -> Built:
    existing = _current(store, "get_entity", data.name, replace=replace, what="an entity")
    entity = FeastEntity(
        name=data.name,
        join_keys=[data.join_key or data.name],
        value_type=ENTITY_TYPES[data.value_type],
        description=data.description,
        tags=data.tags,
        owner=data.owner,
    )
    if existing is not None:
        replacement.check_entity(store, existing, entity)
    return Built(entity, existing is None)


def build_source(store: FeatureStore, data: schemas.DataSourceCreate, *, replace: bool = False) -> Built:
    existing = _current(store, "get_data_source", data.name, replace=replace, what="a data source")
    source = _source(store, data)
    if existing is not None:
        replacement.check_source(store, existing, source)
    return Built(source, existing is None)


def _source(store: FeatureStore, data: schemas.DataSourceCreate) -> FeastSource:
    """The Feast source `data` describes. What each kind takes is its schema's (a field of another kind is
    refused while decoding); what needs the registry, the project's folder or a connection is checked here."""
    reserved = [key for key in data.tags if key.startswith(RESERVED_TAG_PREFIX)]
    if reserved:
        raise Invalid(f"tags: keys starting with {RESERVED_TAG_PREFIX!r} are reserved ({reserved[0]!r})", field="tags")
    tags = dict(data.tags)
    if isinstance(data, schemas.PushSourceCreate):
        return _push_source(store, data, tags)
    if data.connection:
        tags[CONNECTION_TAG] = data.connection
    common: dict[str, Any] = {
        "name": data.name,
        "description": data.description,
        "tags": tags,
        "owner": data.owner,
        "timestamp_field": data.timestamp_field,
        "created_timestamp_column": data.created_timestamp_column or "",
        "field_mapping": data.field_mapping or None,
    }
    if isinstance(data, schemas.ParquetSourceCreate):
        source, field = _parquet_source(store, data, common), "path"
    else:
        source, field = _postgres_source(data, common), ("table" if data.table else "query")
    _check_source_columns(store, source, data, field)
    return source


def _push_source(store: FeatureStore, data: schemas.PushSourceCreate, tags: dict[str, str]) -> FeastSource:
    try:
        batch = store.registry.get_data_source(data.batch_source, store.project, allow_cache=False)
    except DataSourceObjectNotFoundException:
        raise Invalid(f"batch_source: no data source named {data.batch_source!r}", field="batch_source") from None
    if isinstance(batch, PushSource):
        raise Invalid("batch_source: must be a parquet source, not a push source", field="batch_source")
    if isinstance(batch, PostgreSQLSource) or connection_name(batch.tags) is not None:
        raise Invalid(
            f"batch_source: {batch.name!r} reads through a connection, and connections are read-only: push "
            "sources write their offline rows to a parquet source in the platform's store",
            field="batch_source",
        )
    return PushSource(name=data.name, description=data.description, tags=tags, owner=data.owner, batch_source=batch)


def _parquet_source(store: FeatureStore, data: schemas.ParquetSourceCreate, common: dict[str, Any]) -> FeastSource:
    if data.connection:
        _granted(data.name, data.connection, S3Connection, "parquet")
        return FileSource(path=s3_location.relative_path(data.path), **common)
    try:
        project_key(offline_project(store.config), data.path)
    except InvalidPath as exc:
        raise Invalid(f"path: {exc.reason}", field="path") from None
    return FileSource(path=normalize_path(data.path), **common)


def _postgres_source(data: schemas.PostgresSourceCreate, common: dict[str, Any]) -> FeastSource:
    _granted(data.name, data.connection, PostgresConnection, "postgres")
    if bool(data.table) == bool(data.query):
        raise Invalid("table: give exactly one of table or query", field="table")
    return PostgreSQLSource(table=data.table, query=data.query, **common)


def _granted(source: str, name: str, kind: type[PostgresConnection] | type[S3Connection], source_kind: str) -> None:
    """422 on `connection` unless the source's connection is granted to the project and of the right kind."""
    connection = connection_for(source, name)
    if not isinstance(connection, kind):
        wanted = "s3" if kind is S3Connection else "postgres"
        raise Invalid(
            f"connection: {name!r} is a {connection.kind} connection; a {source_kind} source needs a "
            f"{wanted} connection",
            field="connection",
        )


def _source_columns(store: FeatureStore, source: FeastSource, field: str) -> dict[str, str]:
    try:
        return dict(column_types(store.config, source))
    except (Invalid, Unavailable) as exc:
        if isinstance(exc, Invalid) and exc.extra.get("field") is None:
            raise Invalid(f"{field}: {exc.detail}", field=field) from None
        raise
    except OFFLINE_ERRORS as exc:
        raise Invalid(f"{field}: {exc}", field=field) from None
    except Exception as exc:
        raise Invalid(f"{field}: cannot read the source: {str(exc).splitlines()[0][:300]}", field=field) from None


def _check_source_columns(
    store: FeatureStore,
    source: FeastSource,
    data: schemas.ParquetSourceCreate | schemas.PostgresSourceCreate,
    field: str,
) -> None:
    columns = _source_columns(store, source, field)
    if not columns:
        return  # no data yet (a folder pushes will fill)
    for name in ("timestamp_field", "created_timestamp_column"):
        column = getattr(data, name)
        if column and column not in columns:
            raise Invalid(f"{name}: the source has no column {column!r}", field=name)
    for column in data.field_mapping:
        if column not in columns:
            raise Invalid(f"field_mapping: the source has no column {column!r}", field="field_mapping")


def build_view(store: FeatureStore, data: schemas.FeatureViewCreate, *, replace: bool = False) -> Built:
    existing = _current(store, "get_feature_view", data.name, replace=replace, what="a feature view")
    view = _view(store, data)
    if existing is not None:
        replacement.check_view(store, existing, view)
    return Built(view, existing is None)


def _view(store: FeatureStore, data: schemas.FeatureViewCreate) -> FeastView:
    if not data.entities:
        raise Invalid("entities: a feature view needs at least one entity", field="entities")
    if not data.features:
        raise Invalid("features: a feature view needs at least one feature", field="features")
    entities: list[FeastEntity] = []
    for position, name in enumerate(data.entities):
        try:
            entities.append(store.registry.get_entity(name, store.project, allow_cache=False))
        except EntityNotFoundException:
            raise Invalid(f"entities[{position}]: no entity named {name!r}", field=f"entities[{position}]") from None
    try:
        source = store.registry.get_data_source(data.source, store.project, allow_cache=False)
    except DataSourceObjectNotFoundException:
        raise Invalid(f"source: no data source named {data.source!r}", field="source") from None
    join_keys = {entity.join_key: entity for entity in entities}
    fields: list[Field] = []
    seen: set[str] = set()
    for key, entity in join_keys.items():
        fields.append(Field(name=key, dtype=SCALAR_TYPES[ENTITY_TO_FIELD[ENTITY_TYPE_NAMES[entity.value_type]]]))
    for position, spec in enumerate(data.features):
        where = f"features[{position}]"
        if spec.name in seen:
            raise Invalid(f"{where}.name: {spec.name!r} is listed twice", field=f"{where}.name")
        if spec.name in join_keys:
            raise Invalid(f"{where}.name: {spec.name!r} is a join key, not a feature", field=f"{where}.name")
        seen.add(spec.name)
        try:
            dtype = parse_dtype(spec.dtype)
        except ValueError as exc:
            raise Invalid(f"{where}.dtype: {exc}", field=f"{where}.dtype") from None
        fields.append(Field(name=spec.name, dtype=dtype))
    _check_view_columns(store, source, data, join_keys)
    tags = dict(data.tags)
    if data.expectations is not None:
        for column in data.expectations.columns:
            if column not in seen:
                raise Invalid(
                    f"expectations.columns.{column}: not a feature of this view", field=f"expectations.columns.{column}"
                )
        tags[EXPECTATIONS_TAG] = msgspec.json.encode(data.expectations).decode()
    return FeastView(
        name=data.name,
        entities=entities,
        schema=fields,
        source=source,
        ttl=timedelta(seconds=data.ttl_seconds),
        online=data.online,
        description=data.description,
        tags=tags,
        owner=data.owner,
    )


def _check_view_columns(
    store: FeatureStore, source: FeastSource, data: schemas.FeatureViewCreate, join_keys: dict[str, FeastEntity]
) -> None:
    batch = source.batch_source if isinstance(source, PushSource) and source.batch_source else source
    columns = _source_columns(store, batch, "source")
    if not columns:
        return
    reverse = {feature: column for column, feature in (batch.field_mapping or {}).items()}
    for key, entity in join_keys.items():
        declared = ENTITY_TYPE_NAMES[entity.value_type]
        actual = columns.get(key)
        if actual is None:
            raise Invalid(f"entities: the source {source.name!r} has no join key column {key!r}", field="entities")
        if not compatible(declared, actual):
            raise Invalid(
                f"entities: type mismatch for join key {key!r}: entity {declared}, source column {actual}",
                field="entities",
            )
    for position, spec in enumerate(data.features):
        column = reverse.get(spec.name, spec.name)
        actual = columns.get(column)
        where = f"features[{position}]"
        if actual is None:
            raise Invalid(f"{where}.name: the source {source.name!r} has no column {column!r}", field=f"{where}.name")
        declared = spec.dtype.strip().lower()
        if not compatible(declared, actual):
            raise Invalid(
                f"{where}.dtype: type mismatch: declared {declared}, the source column {column!r} is {actual}",
                field=f"{where}.dtype",
            )


def build_service(store: FeatureStore, data: schemas.FeatureServiceCreate, *, replace: bool = False) -> Built:
    existing = _current(store, "get_feature_service", data.name, replace=replace, what="a feature service")
    return Built(_service(store, data), existing is None)


def _service(store: FeatureStore, data: schemas.FeatureServiceCreate) -> FeastService:
    if not data.features:
        raise Invalid("features: a feature service needs at least one feature", field="features")
    wanted: dict[str, list[str] | None] = {}
    views: dict[str, FeastView] = {}
    for position, ref in enumerate(data.features):
        where = f"features[{position}]"
        view_name, sep, feature = ref.partition(":")
        view = views.get(view_name)
        if view is None:
            try:
                view = store.registry.get_feature_view(view_name, store.project, allow_cache=False)
            except FeatureViewNotFoundException:
                raise Invalid(f"{where}: no feature view named {view_name!r}", field=where) from None
            views[view_name] = view
        if not sep:
            wanted[view_name] = None
            continue
        if feature not in {f.name for f in view.features}:
            raise Invalid(f"{where}: feature view {view_name!r} has no feature {feature!r}", field=where)
        current = wanted.setdefault(view_name, [])
        if current is not None and feature not in current:
            current.append(feature)
    projections = [views[name] if names is None else views[name][names] for name, names in wanted.items()]
    return FeastService(
        name=data.name, features=projections, description=data.description, tags=data.tags, owner=data.owner
    )


# ---------------------------------------------------------------- applying and deleting


def apply(store: FeatureStore, obj: Any) -> None:
    store.apply([obj])


def delete_entity(store: FeatureStore, name: str) -> None:
    get_entity(store, name)
    users = [v.name for v in list_views(store) if name in v.entities]
    if users:
        raise Conflict(f"entity {name!r} is used by feature view(s) {', '.join(users)}: delete them first")
    store.registry.delete_entity(name, store.project)


def delete_source(store: FeatureStore, name: str) -> None:
    get_source(store, name)
    users = [v.name for v in list_views(store) if name in {view_batch_source(v).name, view_source_name(v)}]
    pushers = [
        s.name
        for s in list_sources(store)
        if isinstance(s, PushSource) and s.batch_source and s.batch_source.name == name
    ]
    if users or pushers:
        raise Conflict(f"data source {name!r} is used by {', '.join(users + pushers)}: delete them first")
    store.registry.delete_data_source(name, store.project)


def delete_view(store: FeatureStore, name: str) -> None:
    view = get_view(store, name)
    users = [s.name for s in list_services(store) if name in {p.name for p in s.feature_view_projections}]
    if users:
        raise Conflict(f"feature view {name!r} is used by feature service(s) {', '.join(users)}: delete them first")
    # partial=False also removes the view's rows from the online store.
    store.apply([], objects_to_delete=[view], partial=False)


def delete_service(store: FeatureStore, name: str) -> None:
    get_service(store, name)
    store.registry.delete_feature_service(name, store.project)
