"""Pushing rows into a push source: type-check against the views it feeds, check their expectations, then
write offline and online, both or neither.

Before anything is written, the batch becomes one Arrow table typed by the views' schema
(`push_schema.py`): a wrong type, a missing or an unknown column is a 422 naming it. Uploads are decoded
within limits (`push_upload.py`). A batch that breaks a `reject` view's expectations is refused (422) with
the reports, which are stored anyway (in their own transaction, so the refusal does not roll them back);
a `flag` view accepts the batch and stores a flagged report.

Writes: offline first (one part file in the push source's parquet batch source, typed like the data
already there; sources on connections are read-only, so an offline push into one is refused), then online
through Feast (it keeps the newest row per entity by event time). For `online_and_offline` the offline
append is taken back when the online write fails, so the push answers an error having changed nothing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import Invalid, NotFound, PlatformError, Unavailable
from mlplatform.kernel.events import publish
from mlplatform.modules.features import events, schemas
from mlplatform.modules.features.repositories import new_report, report_out
from mlplatform.modules.features.runtime import FeaturesRuntime
from mlplatform.modules.features.services.push_schema import TIMESTAMP, Column, PushSchema
from mlplatform.modules.features.services.push_upload import PushLimits, read_upload

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = structlog.get_logger("mlplatform.features.push")

OFFLINE = {"offline", "online_and_offline"}
ONLINE = {"online", "online_and_offline"}


@dataclass(frozen=True)
class PushTarget:
    view: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    timestamp_field: str
    expectations: schemas.Expectations | None


@dataclass(frozen=True)
class JsonBatch:
    rows: list[dict[str, Any]] | None = None
    columns: dict[str, list[Any]] | None = None


@dataclass(frozen=True)
class UploadBatch:
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Prepared:
    targets: list[PushTarget]
    batch_source: Any
    table: pa.Table
    """Typed by the views' schema, columns named as the views name them."""
    frame: pd.DataFrame
    offline_table: pa.Table | None
    """The same rows named and typed as the batch source's data (None: not pushed offline)."""


def limits(runtime: FeaturesRuntime) -> PushLimits:
    settings = runtime.platform.settings.features
    return PushLimits(max_rows=settings.push_max_rows, max_decoded_bytes=settings.push_max_decoded_bytes)


def _targets(store: Any, push_source: str) -> tuple[list[PushTarget], PushSchema, Any]:
    from feast import FileSource
    from feast.data_source import PushSource

    from mlplatform.modules.features.adapters import registry as r
    from mlplatform.modules.features.adapters.offline import source_uri

    source = r.get_source(store, push_source)
    if not isinstance(source, PushSource) or source.batch_source is None:
        raise Invalid(
            f"push_source: {push_source!r} is a {r.source_kind(source)} source, not a push source", field="push_source"
        )
    batch = source.batch_source
    if isinstance(batch, FileSource):
        source_uri(store.config, batch)  # a stored path outside the project: 422 before any write
    schema = PushSchema()
    targets = []
    for view in r.list_views(store):
        stream = view.stream_source
        if not (isinstance(stream, PushSource) and stream.name == push_source):
            continue
        for key in view.entity_columns:
            schema.add(Column(key.name, r.dtype_name(key.dtype), nullable=False))
        for feature in view.features:
            schema.add(Column(feature.name, r.dtype_name(feature.dtype)))
        targets.append(
            PushTarget(
                view=view.name,
                join_keys=tuple(c.name for c in view.entity_columns),
                features=tuple(f.name for f in view.features),
                timestamp_field=batch.timestamp_field,
                expectations=r.view_expectations(view),
            )
        )
    schema.add(Column(batch.timestamp_field, TIMESTAMP, nullable=False))
    if batch.created_timestamp_column:
        schema.add(Column(batch.created_timestamp_column, TIMESTAMP, required=False))
    return targets, schema, batch


def _typed(batch: JsonBatch | UploadBatch, schema: PushSchema, push_limits: PushLimits) -> pa.Table:
    if isinstance(batch, UploadBatch):
        return schema.from_arrow(read_upload(batch.body, batch.content_type, push_limits), "body")
    columns = json_columns(batch.rows, batch.columns)
    push_limits.check_rows(len(next(iter(columns.values()))))
    return schema.from_json(columns, "rows" if batch.rows is not None else "columns")


def json_columns(rows: list[dict[str, Any]] | None, columns: dict[str, list[Any]] | None) -> dict[str, list[Any]]:
    if (rows is None) == (columns is None):
        raise Invalid("rows: give exactly one of rows or columns", field="rows")
    if rows is not None:
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        columns = {name: [row.get(name) for row in rows] for name in names}
    assert columns is not None
    if len({len(v) for v in columns.values()}) > 1:
        raise Invalid("columns: every column must have the same number of values", field="columns")
    if not columns or not next(iter(columns.values())):
        raise Invalid("rows: the batch is empty", field="rows")
    return columns


def _prepare(
    store: Any, push_source: str, batch: JsonBatch | UploadBatch, to: str, push_limits: PushLimits
) -> Prepared:
    from mlplatform.modules.features.adapters.offline_append import offline_shape
    from mlplatform.modules.features.services.push_offline import offline_table

    targets, schema, batch_source = _targets(store, push_source)
    if not targets:
        raise NotFound(f"no feature view reads from push source {push_source!r}")
    table = _typed(batch, schema, push_limits)
    offline = None
    if to in OFFLINE:
        offline = offline_table(table, batch_source, offline_shape(store.config, batch_source))
    return Prepared(targets, batch_source, table, table.to_pandas(), offline)


def _check_expectations(prepared: Prepared, now: datetime) -> list[tuple[PushTarget, int, list[Any]]]:
    from mlplatform.modules.features.services.validation import check_batch

    results = []
    for target in prepared.targets:
        if target.expectations is None:
            continue
        rows_failed, failures = check_batch(
            prepared.frame, target.expectations, timestamp_field=target.timestamp_field, now=now
        )
        results.append((target, rows_failed, failures))
    return results


async def push(
    session: AsyncSession,
    runtime: FeaturesRuntime,
    project: str,
    *,
    push_source: str,
    batch: JsonBatch | UploadBatch,
    to: str,
    actor: str | None,
) -> schemas.PushResult:
    gateway = runtime.gateway
    store = await gateway.run(gateway.store, project)
    if to != "online":
        await gateway.run(_refuse_read_only, store, push_source)
    prepared = await gateway.run(_prepare, store, push_source, batch, to, limits(runtime))
    rows = prepared.table.num_rows
    checked = await gateway.run(_check_expectations, prepared, datetime.now(UTC))
    reports = []
    rejected = False
    for target, rows_failed, failures in checked:
        assert target.expectations is not None
        outcome = "passed"
        if failures:
            outcome = "rejected" if target.expectations.policy == "reject" else "flagged"
            rejected = rejected or outcome == "rejected"
        reports.append(
            new_report(
                project=project,
                feature_view=target.view,
                kind="push",
                outcome=outcome,
                rows_checked=rows,
                rows_failed=rows_failed,
                failures=failures,
                created_by=actor,
            )
        )
    if rejected:
        # Stored in their own transaction: the refusal rolls the request's back.
        async with runtime.platform.database.transaction() as own:
            for row in reports:
                own.add(row)
                await publish(own, _report_event(row))
        refused = ", ".join(r.feature_view for r in reports if r.outcome == "rejected")
        raise Invalid(
            f"the batch breaks the expectations of {refused}",
            field="rows",
            reports=[msgspec.to_builtins(report_out(r)) for r in reports],
        )
    await gateway.run(_write, store, prepared, to)
    for row in reports:
        session.add(row)
        await publish(session, _report_event(row))
    views = [t.view for t in prepared.targets]
    await publish(
        session,
        events.FeaturesPushed(
            aggregate_id=f"{project}/{push_source}",
            project=project,
            push_source=push_source,
            rows=rows,
            to=to,
            feature_views=views,
        ),
    )
    await session.flush()
    return schemas.PushResult(
        push_source=push_source, rows=rows, to=to, feature_views=views, reports=[report_out(r) for r in reports]
    )


def _refuse_read_only(store: Any, push_source: str) -> None:
    """Offline rows go to a parquet source in the platform's store; sources on connections are read-only (also
    refused when the push source is defined: this catches definitions stored before that rule)."""
    from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource

    from mlplatform.modules.features.adapters import registry as r
    from mlplatform.modules.features.connections.resolved import connection_name

    batch = getattr(r.get_source(store, push_source), "batch_source", None)
    if isinstance(batch, PostgreSQLSource) or (batch is not None and connection_name(batch.tags) is not None):
        raise Invalid(
            f"to: the offline source of {push_source!r} ({batch.name!r}) reads through a connection, and connections "
            "are read-only: push with to=online, or point the push source at a parquet source",
            field="to",
        )


def _write(store: Any, prepared: Prepared, to: str) -> None:
    from mlplatform.modules.features.adapters.offline_append import appending

    if to not in OFFLINE:
        _write_online(store, prepared, taken_back=False)
        return
    assert prepared.offline_table is not None
    with appending(store.config, prepared.batch_source, prepared.offline_table):
        if to in ONLINE:
            _write_online(store, prepared, taken_back=True)


def _write_online(store: Any, prepared: Prepared, *, taken_back: bool) -> None:
    for target in prepared.targets:
        try:
            store.write_to_online_store(target.view, df=prepared.frame, allow_registry_cache=False)
        except Exception as exc:
            failure = _online_failure(exc, taken_back)
            if failure is None:
                raise
            log.warning("push_online_write_failed", feature_view=target.view, error=str(exc))
            raise failure from exc


def _online_failure(exc: Exception, taken_back: bool) -> PlatformError | None:
    """The online store being unreachable or locked is a 503 naming it; anything else stays unexpected."""
    if isinstance(exc, PlatformError):
        return exc
    if not (type(exc).__module__.startswith("redis") or isinstance(exc, sqlite3.Error)):
        return None
    after = " The offline append was taken back: nothing was written." if taken_back else ""
    return Unavailable(f"the online store could not be written ({exc}).{after}", component="online-store")


def _report_event(row: Any) -> events.ValidationReportCreated:
    return events.ValidationReportCreated(
        aggregate_id=f"{row.project}/{row.feature_view}",
        project=row.project,
        report_id=str(row.id),
        feature_view=row.feature_view,
        kind=row.kind,
        outcome=row.outcome,
        rows_checked=row.rows_checked,
        rows_failed=row.rows_failed,
    )
