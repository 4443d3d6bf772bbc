"""The platform's Feast offline store: parquet in the object store (or under a granted S3 connection) and
PostgreSQL tables or queries through a granted connection, read with pyarrow/SQL and joined
point-in-time in pandas.

Feast loads it from the `offline_store.type` of the `RepoConfig` (this module's path + class name).
Why not a stock store: Feast's `file` (dask) store drops entity rows in historical retrieval
(FACTS.md), and its `postgres` store only reads PostgreSQL tables — a project here can mix parquet on
S3 and Postgres tables. This store reads both, answers materialization pulls, appends pushed rows
(to parquet in the platform's store only: connections are read-only), and returns every entity row of a
training set (see `pit.point_in_time_join`). Sources on connections read with the connections bound by
`connections.resolved.run_with` for the call (`connections/`); nothing here reads the platform's own
database.

Imported only inside Feast calls (worker threads), never on the start-up path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
from feast import FeatureView, FileSource
from feast.data_source import DataSource, PushSource
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource
from feast.infra.offline_stores.offline_store import OfflineStore, RetrievalJob, RetrievalMetadata
from feast.infra.offline_stores.offline_utils import infer_event_timestamp_from_entity_df
from feast.infra.registry.base_registry import BaseRegistry
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from feast.saved_dataset import SavedDatasetStorage

from mlplatform.kernel.errors import Invalid
from mlplatform.kernel.storage.project_paths import InvalidPath, project_key
from mlplatform.modules.features.adapters.files import StoreLocation
from mlplatform.modules.features.adapters.pit import ViewJoin, latest_per_entity, point_in_time_join, to_utc
from mlplatform.modules.features.adapters.postgres import (
    PostgresUnavailable,
    postgres_columns,
    read_postgres,
    refuse_append,
)
from mlplatform.modules.features.connections import s3_location
from mlplatform.modules.features.connections.resolved import connection_name


class PlatformOfflineStoreConfig(FeastConfigBaseModel):
    """Where the offline data lives (filled from the platform's settings)."""

    type: Literal["mlplatform.modules.features.adapters.offline.PlatformOfflineStore"] = (
        "mlplatform.modules.features.adapters.offline.PlatformOfflineStore"
    )
    root_uri: str = ""
    """The object store root (`s3://bucket/prefix` or `file:///path`)."""
    project: str = ""
    """The platform project: parquet paths are relative to its folder `projects/<project>/` of the store
    (empty: no file can be read or written)."""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None


class OfflineDataError(ValueError):
    """The offline data cannot serve the request (missing columns, unsupported source ...)."""


OFFLINE_ERRORS = (OfflineDataError, PostgresUnavailable)


class ArrowRetrievalJob(RetrievalJob):
    """A retrieval whose result is computed on demand as an Arrow table."""

    def __init__(
        self,
        compute: Callable[[], pa.Table],
        *,
        full_feature_names: bool = False,
        metadata: RetrievalMetadata | None = None,
        config: RepoConfig | None = None,
    ) -> None:
        self._compute = compute
        self._full_feature_names = full_feature_names
        self._metadata = metadata
        self._config = config

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return []

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        return self._compute()

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._compute().to_pandas()

    def persist(self, storage: SavedDatasetStorage, allow_overwrite: bool = False, timeout: int | None = None) -> None:
        path = getattr(getattr(storage, "file_options", None), "uri", None)
        if not path or self._config is None:
            raise OfflineDataError("only file storage (a parquet path in the project's folder) is supported")
        _location(self._config).write(project_uri(self._config, path, what="saved dataset"), self._compute())

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._metadata


def _location(config: RepoConfig) -> StoreLocation:
    store = config.offline_store
    assert isinstance(store, PlatformOfflineStoreConfig)
    return StoreLocation(store.root_uri, store.s3_endpoint_url, store.s3_region)


def _batch_source(source: DataSource) -> DataSource:
    return source.batch_source if isinstance(source, PushSource) and source.batch_source else source


def view_batch_source(view: FeatureView) -> DataSource:
    """The view's offline source (Feast types it optional; every view built here has one)."""
    source = view.batch_source
    if source is None:
        raise OfflineDataError(f"feature view {view.name!r} has no offline source")
    return source


def offline_project(config: RepoConfig) -> str:
    """The platform project whose folder holds this configuration's parquet data."""
    store = config.offline_store
    assert isinstance(store, PlatformOfflineStoreConfig)
    return store.project


def project_uri(config: RepoConfig, path: str, *, what: str) -> str:
    """The URI of the user path `path` in the project's folder (`project_key`), checked at every use: a
    definition stored before the rules (or written to the registry around the API) is no way out."""
    try:
        key = project_key(offline_project(config), path)
    except InvalidPath as exc:
        raise Invalid(f"{what}: path {path!r} {exc.reason}", field="path") from None
    except ValueError:
        raise Invalid(f"{what}: no project to resolve path {path!r} in", field="path") from None
    return _location(config).uri_for(key)


def source_uri(config: RepoConfig, source: FileSource) -> str:
    """Where a parquet source's data is: its path inside the project's folder."""
    return project_uri(config, source.path, what=f"data source {source.name!r}")


def parquet_location(config: RepoConfig, source: FileSource) -> tuple[StoreLocation, str]:
    """Where a parquet source's data is: under its S3 connection when it names one, else in the platform's
    object store."""
    connection = connection_name(source.tags)
    if connection is not None:
        return s3_location.source_location(source.name, connection, source.path)
    return _location(config), source_uri(config, source)


def read_source(
    config: RepoConfig,
    source: DataSource,
    columns: Iterable[str],
    timestamp_field: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Rows of `source` (raw column names) with `start <= timestamp <= end`, timestamps in UTC."""
    source = _batch_source(source)
    wanted = list(dict.fromkeys(columns))
    if isinstance(source, FileSource):
        frame = _read_parquet(config, source, wanted, timestamp_field, start, end)
    elif isinstance(source, PostgreSQLSource):
        frame = read_postgres(source, wanted, timestamp_field, start, end)
    else:
        raise OfflineDataError(f"data source {source.name!r} of type {type(source).__name__} has no offline data")
    for column in frame.columns:
        if column == timestamp_field or pd.api.types.is_datetime64_any_dtype(frame[column].dtype):
            frame[column] = to_utc(frame[column])
    return frame


def _read_parquet(
    config: RepoConfig,
    source: FileSource,
    columns: list[str],
    timestamp_field: str,
    start: datetime | None,
    end: datetime | None,
) -> pd.DataFrame:
    import pyarrow.compute as pc

    where, uri = parquet_location(config, source)
    dataset = where.dataset(uri)
    if dataset is None:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    missing = [name for name in columns if name not in dataset.schema.names]
    if missing:
        raise OfflineDataError(f"data source {source.name!r} has no column(s) {', '.join(missing)}")
    table = dataset.to_table(columns=columns)
    ts = table[timestamp_field]
    if pa.types.is_timestamp(ts.type) and ts.type.tz is None:
        ts = ts.cast(pa.timestamp(ts.type.unit, tz="UTC"))
    mask = None
    if start is not None:
        mask = pc.greater_equal(ts, pa.scalar(start.astimezone(UTC), type=pa.timestamp("us", tz="UTC")))
    if end is not None:
        upper = pc.less_equal(ts, pa.scalar(end.astimezone(UTC), type=pa.timestamp("us", tz="UTC")))
        mask = upper if mask is None else pc.and_(mask, upper)
    if mask is not None:
        table = table.filter(mask)
    return table.to_pandas(types_mapper=_nullable_types)


_NULLABLE_INTS = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
}


def _nullable_types(arrow_type: pa.DataType) -> Any:
    """Integers and booleans as pandas' nullable dtypes, so a null never turns them into floats."""
    if pa.types.is_integer(arrow_type):
        return _NULLABLE_INTS.get(arrow_type)
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None


def _mapped(source: DataSource, frame: pd.DataFrame) -> pd.DataFrame:
    mapping = dict(_batch_source(source).field_mapping or {})
    return frame.rename(columns=mapping) if mapping else frame


def _reverse_mapping(source: DataSource) -> dict[str, str]:
    return {feature: column for column, feature in (_batch_source(source).field_mapping or {}).items()}


class PlatformOfflineStore(OfflineStore):
    """See the module docstring."""

    @staticmethod
    def pull_latest_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None,
        start_date: datetime,
        end_date: datetime,
    ) -> RetrievalJob:
        def compute() -> pa.Table:
            columns = [*join_key_columns, *feature_name_columns, timestamp_field]
            if created_timestamp_column:
                columns.append(created_timestamp_column)
            frame = read_source(config, data_source, columns, timestamp_field, start_date, end_date)
            latest = latest_per_entity(frame, join_key_columns, timestamp_field, created_timestamp_column)
            return pa.Table.from_pandas(latest, preserve_index=False)

        return ArrowRetrievalJob(compute, config=config)

    @staticmethod
    def pull_all_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> RetrievalJob:
        def compute() -> pa.Table:
            columns = [*join_key_columns, *feature_name_columns, timestamp_field]
            if created_timestamp_column:
                columns.append(created_timestamp_column)
            frame = read_source(config, data_source, columns, timestamp_field, start_date, end_date)
            return pa.Table.from_pandas(frame, preserve_index=False)

        return ArrowRetrievalJob(compute, config=config)

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str | None,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        **kwargs: Any,
    ) -> RetrievalJob:
        if not isinstance(entity_df, pd.DataFrame):
            raise OfflineDataError("the entity rows must be a dataframe (inline rows or a parquet file)")
        entities = entity_df
        timestamp_column = infer_event_timestamp_from_entity_df(dict(entities.dtypes))
        wanted: dict[str, list[str]] = {}
        for ref in feature_refs:
            view_name, feature = ref.split(":", 1)
            wanted.setdefault(view_name, []).append(feature)

        def compute() -> pa.Table:
            timestamps = to_utc(entities[timestamp_column])
            lower, upper = timestamps.min(), timestamps.max()
            parts: list[tuple[ViewJoin, pd.DataFrame]] = []
            for view in feature_views:
                name = view.projection.name_to_use()
                features = wanted.get(name) or wanted.get(view.name) or []
                if not features:
                    continue
                source = view_batch_source(view)
                join_map = view.projection.join_key_map or {}
                source_keys = [column.name for column in view.entity_columns]
                join_keys = [join_map.get(key, key) for key in source_keys]
                missing = [key for key in join_keys if key not in entities.columns]
                if missing:
                    raise OfflineDataError(f"the entity rows lack join key column(s) {', '.join(missing)} for {name!r}")
                reverse = _reverse_mapping(source)
                ts_field = _batch_source(source).timestamp_field
                created = _batch_source(source).created_timestamp_column or None
                ttl = view.ttl if view.ttl and view.ttl.total_seconds() > 0 else None
                start = (lower - ttl).to_pydatetime() if ttl is not None and not pd.isna(lower) else None
                end = upper.to_pydatetime() if not pd.isna(upper) else None
                raw = read_source(
                    config,
                    source,
                    [*source_keys, *(reverse.get(f, f) for f in features), ts_field, *([created] if created else [])],
                    ts_field,
                    start,
                    end,
                )
                rows = _mapped(source, raw)
                outputs = [f"{name}__{f}" if full_feature_names else f for f in features]
                parts.append(
                    (
                        ViewJoin(
                            join_keys=join_keys,
                            source_keys=source_keys,
                            timestamp_field=ts_field,
                            created_timestamp_field=created,
                            features=features,
                            output_names=outputs,
                            ttl=ttl,
                        ),
                        rows,
                    )
                )
            joined = point_in_time_join(entities, timestamp_column, parts)
            return pa.Table.from_pandas(joined, preserve_index=False)

        return ArrowRetrievalJob(compute, full_feature_names=full_feature_names, config=config)

    @staticmethod
    def offline_write_batch(
        config: RepoConfig,
        feature_view: FeatureView,
        table: pa.Table,
        progress: Callable[[int], Any] | None,
    ) -> None:
        source = _batch_source(view_batch_source(feature_view))
        if isinstance(source, FileSource) and connection_name(source.tags) is not None:
            raise OfflineDataError(
                f"data source {source.name!r} reads through a connection: connections are read-only, rows cannot be "
                "appended"
            )
        if isinstance(source, FileSource):
            _location(config).append(source_uri(config, source), table)
        elif isinstance(source, PostgreSQLSource):
            refuse_append(source)
        else:
            raise OfflineDataError(f"cannot append rows to data source {source.name!r}")
        if progress is not None:
            progress(table.num_rows)

    def validate_data_source(self, config: RepoConfig, data_source: DataSource) -> None:
        """Sources may be created before their data exists (push targets): nothing to check here."""

    def get_table_column_names_and_types_from_data_source(
        self, config: RepoConfig, data_source: DataSource
    ) -> Iterable[tuple[str, str]]:
        return column_types(config, data_source)


def column_types(config: RepoConfig, data_source: DataSource) -> list[tuple[str, str]]:
    """(column, type) of the source's data as it exists now; empty when there is no data yet."""
    source = _batch_source(data_source)
    if isinstance(source, FileSource):
        where, uri = parquet_location(config, source)
        schema = where.schema(uri)
        return [] if schema is None else [(field.name, str(field.type)) for field in schema]
    if isinstance(source, PostgreSQLSource):
        return postgres_columns(source)
    return []
