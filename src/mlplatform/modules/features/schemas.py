"""Request and response bodies of the features API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from mlplatform.modules.features.connections.schemas import ConnectionName
from mlplatform.modules.features.constraints import Description, FeatureRef, Name, ProjectPath, ServiceFeatureRef

Tags = Annotated[dict[str, str], msgspec.Meta(description="Free-form labels.")]
EntityValueType = Literal["int64", "int32", "string", "bytes"]
PushTarget = Literal["online", "offline", "online_and_offline"]
FeatureType = Literal[
    "int32",
    "int64",
    "float32",
    "float64",
    "string",
    "bytes",
    "bool",
    "unix_timestamp",
    "array<int32>",
    "array<int64>",
    "array<float32>",
    "array<float64>",
    "array<string>",
    "array<bytes>",
    "array<bool>",
    "array<unix_timestamp>",
]
"""The feature types `adapters/registry.py` maps to Feast's (`SCALAR_TYPES`, and arrays of them)."""
MAX_TTL_SECONDS = 10 * 366 * 86_400
"""Ten years: far beyond any useful TTL; unbounded values overflowed `timedelta` inside Feast (a 500)."""
Seconds = Annotated[int, msgspec.Meta(ge=0, le=MAX_TTL_SECONDS)]
"""A duration in whole seconds, at most `MAX_TTL_SECONDS` (pandas' and Python's timedeltas overflow far
beyond any useful value)."""
NonEmpty = msgspec.Meta(min_length=1)


# ---------------------------------------------------------------- entities


class EntityCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    join_key: Name | None = None
    """Column that identifies the entity in data and requests (default: the entity's name)."""
    value_type: EntityValueType = "int64"
    description: Description = ""
    tags: Tags = msgspec.field(default_factory=dict)
    owner: str = ""


class Entity(msgspec.Struct, kw_only=True):
    name: str
    join_key: str
    value_type: str
    description: str
    tags: dict[str, str]
    owner: str
    created_at: datetime | None
    updated_at: datetime | None


class EntityPage(msgspec.Struct, kw_only=True):
    items: list[Entity]
    next_cursor: str | None = None


# ---------------------------------------------------------------- data sources


Column = Annotated[str, NonEmpty]
FieldMapping = Annotated[dict[str, str], msgspec.Meta(description="Source column -> feature name.")]


class ParquetSourceCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="parquet"):
    """Parquet files in the project's folder of the object store, or under an `s3` connection's prefix."""

    kind: ClassVar[Literal["parquet"]] = "parquet"
    name: Name
    path: Annotated[str, NonEmpty]
    """A parquet file or folder of parquet files, relative to the project's folder of the object store
    (`raw/drivers` is `projects/<project>/raw/drivers`; upload with `PUT .../files/{path}`), or to the `s3`
    connection's prefix when the source names one."""
    timestamp_field: Column
    """Event-time column."""
    created_timestamp_column: str | None = None
    """Optional column breaking ties between rows with the same event time."""
    connection: ConnectionName | None = None
    """An `s3` connection granted to the project whose bucket/prefix `path` is relative to."""
    field_mapping: FieldMapping = msgspec.field(default_factory=dict)
    description: Description = ""
    tags: Tags = msgspec.field(default_factory=dict)
    owner: str = ""


class PostgresSourceCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="postgres"):
    """A table or a query in the database of a `postgres` connection granted to the project."""

    kind: ClassVar[Literal["postgres"]] = "postgres"
    name: Name
    connection: ConnectionName
    """The connection granted to the project whose database the source reads
    (`GET /api/v1/projects/{project}/connections` lists them)."""
    table: str | None = None
    """`schema.table` in the connection's database. Exactly one of `table` and `query`."""
    query: str | None = None
    """One SELECT instead of a table (run read-only, with the connection's statement timeout)."""
    timestamp_field: Column
    """Event-time column."""
    created_timestamp_column: str | None = None
    """Optional column breaking ties between rows with the same event time."""
    field_mapping: FieldMapping = msgspec.field(default_factory=dict)
    description: Description = ""
    tags: Tags = msgspec.field(default_factory=dict)
    owner: str = ""


class PushSourceCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="push"):
    """Rows pushed through the API, written online and to a parquet source in the platform's store
    (offline); event time and columns are the batch source's."""

    kind: ClassVar[Literal["push"]] = "push"
    name: Name
    batch_source: Name
    """The parquet source (in the platform's store) pushed rows are also written to (offline)."""
    description: Description = ""
    tags: Tags = msgspec.field(default_factory=dict)
    owner: str = ""


DataSourceCreate = ParquetSourceCreate | PostgresSourceCreate | PushSourceCreate
"""A data source; `kind` (`parquet`, `postgres` or `push`) says which, and with it the fields it takes."""


class DataSource(msgspec.Struct, kw_only=True):
    name: str
    kind: str
    timestamp_field: str | None
    created_timestamp_column: str | None
    connection: str | None
    """The connection the source reads through (postgres; parquet on an `s3` connection)."""
    path: str | None
    uri: str | None
    """Where the parquet data is (its path in the project's folder); null for a source on a connection or a
    stored path the rules refuse."""
    table: str | None
    query: str | None
    batch_source: str | None
    field_mapping: dict[str, str]
    description: str
    tags: dict[str, str]
    owner: str
    created_at: datetime | None
    updated_at: datetime | None


class DataSourcePage(msgspec.Struct, kw_only=True):
    items: list[DataSource]
    next_cursor: str | None = None


# ---------------------------------------------------------------- feature views


class FieldSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    dtype: FeatureType


ScalarValue = str | int | float | bool


class ColumnExpectation(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    not_null: bool = False
    min: float | None = None
    max: float | None = None
    allowed_values: list[ScalarValue] | None = None


class Expectations(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    columns: dict[str, ColumnExpectation] = msgspec.field(default_factory=dict)
    max_staleness_seconds: Seconds | None = None
    """A row whose event time is older than this (at push time) fails; profiles report staleness."""
    policy: Literal["reject", "flag"] = "reject"
    """On a failing push: reject the batch (422 with the report) or accept it and store a flagged report."""


class FeatureViewCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    entities: Annotated[list[Name], NonEmpty]
    features: Annotated[list[FieldSpec], NonEmpty]
    """The features (the entities' join keys are added to the schema automatically)."""
    source: Name
    ttl_seconds: Seconds = 0
    """How long a value stays valid (online reads answer OUTSIDE_MAX_AGE after it; training sets ignore older
    values); 0 = forever, at most 10 years."""
    online: bool = True
    description: Description = ""
    tags: Tags = msgspec.field(default_factory=dict)
    owner: str = ""
    expectations: Expectations | None = None


class FeatureView(msgspec.Struct, kw_only=True):
    name: str
    entities: list[str]
    join_keys: list[str]
    features: list[FieldSpec]
    source: str
    ttl_seconds: int
    online: bool
    description: str
    tags: dict[str, str]
    owner: str
    expectations: Expectations | None
    version: str
    """Fingerprint of the definition: changes whenever the view does (recorded on training sets)."""
    created_at: datetime | None
    updated_at: datetime | None


class FeatureViewPage(msgspec.Struct, kw_only=True):
    items: list[FeatureView]
    next_cursor: str | None = None


# ---------------------------------------------------------------- feature services


class FeatureServiceCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    features: Annotated[list[ServiceFeatureRef], NonEmpty]
    """`view` (all its features) or `view:feature`."""
    description: Description = ""
    tags: Tags = msgspec.field(default_factory=dict)
    owner: str = ""


class FeatureService(msgspec.Struct, kw_only=True):
    name: str
    features: list[str]
    """`view:feature`, in order."""
    feature_views: list[str]
    description: str
    tags: dict[str, str]
    owner: str
    created_at: datetime | None
    updated_at: datetime | None


class FeatureServicePage(msgspec.Struct, kw_only=True):
    items: list[FeatureService]
    next_cursor: str | None = None


# ---------------------------------------------------------------- online serving (Feast's wire format)


class OnlineFeaturesRequest(msgspec.Struct, kw_only=True):
    """Feast feature-server request: `entities` is columnar (join key -> values)."""

    entities: Annotated[dict[str, list[Any]], NonEmpty]
    """Join key -> values (at least one join key)."""
    feature_service: Name | None = None
    features: list[FeatureRef] = msgspec.field(default_factory=list)
    full_feature_names: bool = False
    include_feature_view_version_metadata: bool = False


class FeatureVector(msgspec.Struct):
    values: list[Any]
    statuses: list[str]
    """PRESENT, NULL_VALUE, NOT_FOUND or OUTSIDE_MAX_AGE."""
    event_timestamps: list[str]


class OnlineFeaturesMetadata(msgspec.Struct):
    feature_names: list[str]


class OnlineFeaturesResponse(msgspec.Struct):
    """Columnar: one vector per entity column, then one per feature; row i of every vector is entity row i."""

    metadata: OnlineFeaturesMetadata
    results: list[FeatureVector]


# ---------------------------------------------------------------- push


class PushRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    push_source: Name
    rows: Annotated[list[Annotated[dict[str, Any], NonEmpty]], NonEmpty] | None = None
    """Row-wise data, or use `columns` (exactly one of the two)."""
    columns: Annotated[dict[str, Annotated[list[Any], NonEmpty]], NonEmpty] | None = None
    """Columnar data (column -> values, every column as long as the others)."""
    to: PushTarget = "online"


class FeastPushRequest(msgspec.Struct, kw_only=True):
    """Feast feature-server `/push` body."""

    push_source_name: Name
    df: Annotated[dict[str, Annotated[list[Any], NonEmpty]], NonEmpty]
    """Columnar data (column -> values, every column as long as the others)."""
    to: PushTarget = "online"
    allow_registry_cache: bool = True
    transform_on_write: bool = True


class ColumnFailure(msgspec.Struct, kw_only=True):
    column: str
    check: str
    """not_null, min, max, allowed_values, max_staleness or type."""
    failed_rows: int
    rows: list[int]
    """Positions (0-based) of the first failing rows in the batch."""
    message: str


class ColumnProfile(msgspec.Struct, kw_only=True, omit_defaults=True):
    count: int
    nulls: int
    null_fraction: float
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    distinct: int | None = None


class ValidationReport(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    project: str
    feature_view: str
    kind: str
    """push (a batch checked on the way in) or profile (an on-demand run over the view's offline data)."""
    outcome: str
    """passed, failed (profile), rejected or flagged (push)."""
    rows_checked: int
    rows_failed: int
    failures: list[ColumnFailure]
    profile: dict[str, ColumnProfile] | None
    freshness_seconds: float | None
    """Age of the newest row, when known."""
    job_id: uuid.UUID | None
    created_by: str | None
    created_at: datetime


class ValidationReportPage(msgspec.Struct, kw_only=True):
    items: list[ValidationReport]
    next_cursor: str | None = None


class PushResult(msgspec.Struct, kw_only=True):
    push_source: str
    rows: int
    to: str
    feature_views: list[str]
    reports: list[ValidationReport]
    """Validation reports of views with expectations (flagged or passed)."""


# ---------------------------------------------------------------- jobs: materialization, training sets, validation


class MaterializationCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    feature_views: Annotated[list[Name], NonEmpty] | None = None
    """Default (null or left out): every online feature view of the project."""
    start: datetime | None = None
    """Full range: rows with event time >= start (default: end - the view's TTL, or everything)."""
    end: datetime | None = None
    """Default: now."""
    incremental: bool = False
    """Start each view where its last materialization ended."""


class HistoricalCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    feature_service: Name | None = None
    """Or `features` (exactly one of the two)."""
    features: list[FeatureRef] = msgspec.field(default_factory=list)
    entity_rows: Annotated[list[Annotated[dict[str, Any], NonEmpty]], NonEmpty] | None = None
    """Inline entity rows: join keys + `event_timestamp` (ISO 8601). Exactly one of `entity_rows`,
    `entity_columns` and `entity_path`."""
    entity_columns: Annotated[dict[str, Annotated[list[Any], NonEmpty]], NonEmpty] | None = None
    """Inline entity rows, columnar."""
    entity_path: ProjectPath | None = None
    """Or: a parquet file of entity rows, relative to the project's folder (as a parquet source's `path`)."""
    full_feature_names: bool = False
    name: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class ValidationRunCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    start: datetime | None = None
    end: datetime | None = None


class FeatureViewVersion(msgspec.Struct):
    name: str
    version: str


class Dataset(msgspec.Struct, kw_only=True):
    """A training dataset: point-in-time-correct features for a set of entity rows, stored as parquet."""

    id: uuid.UUID
    project: str
    name: str | None
    feature_service: str | None
    features: list[str]
    feature_views: list[FeatureViewVersion]
    row_count: int
    columns: list[str]
    uri: str
    object_key: str
    size_bytes: int
    job_id: uuid.UUID | None
    created_by: str | None
    created_at: datetime


class DatasetPage(msgspec.Struct, kw_only=True):
    items: list[Dataset]
    next_cursor: str | None = None


# ---------------------------------------------------------------- project files


class ProjectFile(msgspec.Struct, kw_only=True):
    """A file in the project's folder of the object store (`projects/<project>/<path>`)."""

    path: str
    """Relative to the project's folder: what parquet sources' `path` and `entity_path` name."""
    size: int
    last_modified: datetime | None = None


class ProjectFilePage(msgspec.Struct, kw_only=True):
    items: list[ProjectFile]
    next_cursor: str | None = None


# ---------------------------------------------------------------- feature_store.yaml


class RemoteRegistry(msgspec.Struct, kw_only=True, omit_defaults=True):
    registry_type: Literal["remote"]
    path: str
    """`host:port` of the platform's read-only gRPC registry."""
    is_tls: bool = False


class RemoteOnlineStore(msgspec.Struct, kw_only=True):
    type: Literal["remote"]
    path: str
    """`<platform>/feast/<project>`: the platform's Feast-compatible online endpoint."""


class TokenAuth(msgspec.Struct, kw_only=True):
    type: Literal["oidc"]
    token_env_var: str
    """The environment variable holding the platform token Feast sends."""


class FeatureStoreConfig(msgspec.Struct, kw_only=True):
    """The mapping a served `feature_store.yaml` holds (Feast's `RepoConfig` keys)."""

    project: str
    """The Feast project (the platform project's name, dashes as underscores)."""
    provider: Literal["local"]
    registry: RemoteRegistry
    online_store: RemoteOnlineStore
    auth: TokenAuth
    entity_key_serialization_version: int
