"""Pushing rows into a push source: validate against each fed view's expectations, then write through Feast.

A batch that breaks a `reject` view's expectations is refused (422) with the reports, which are
stored anyway (in their own transaction, so the refusal does not roll them back). A `flag` view
accepts the batch and stores a flagged report. Writes go through Feast (online: it keeps the newest
row per entity by event time; offline: appended to the batch source's parquet folder; sources on connections
are read-only, so an offline push into one is refused).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import Invalid, NotFound
from mlplatform.kernel.events import publish
from mlplatform.modules.features import events, schemas
from mlplatform.modules.features.connections.resolved import run_with
from mlplatform.modules.features.connections.service import granted_connections
from mlplatform.modules.features.repositories import new_report, report_out
from mlplatform.modules.features.runtime import FeaturesRuntime

if TYPE_CHECKING:
    import pandas as pd

MAX_PUSH_ROWS = 1_000_000


@dataclass(frozen=True)
class PushTarget:
    view: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    timestamp_field: str
    expectations: schemas.Expectations | None


def _targets(store: Any, push_source: str) -> list[PushTarget]:
    from feast.data_source import PushSource

    from mlplatform.modules.features.adapters import registry as r

    source = r.get_source(store, push_source)
    if not isinstance(source, PushSource) or source.batch_source is None:
        raise Invalid(
            f"push_source: {push_source!r} is a {r.source_kind(source)} source, not a push source", field="push_source"
        )
    targets = []
    for view in r.list_views(store):
        stream = view.stream_source
        if isinstance(stream, PushSource) and stream.name == push_source:
            targets.append(
                PushTarget(
                    view=view.name,
                    join_keys=tuple(c.name for c in view.entity_columns),
                    features=tuple(f.name for f in view.features),
                    timestamp_field=source.batch_source.timestamp_field,
                    expectations=r.view_expectations(view),
                )
            )
    return targets


def frame_from_json(rows: list[dict[str, Any]] | None, columns: dict[str, list[Any]] | None) -> pd.DataFrame:
    import pandas as pd

    if (rows is None) == (columns is None):
        raise Invalid("rows: give exactly one of rows or columns", field="rows")
    if rows is not None:
        frame = pd.DataFrame.from_records(rows)
    else:
        assert columns is not None
        if len({len(v) for v in columns.values()}) > 1:
            raise Invalid("columns: every column must have the same number of values", field="columns")
        frame = pd.DataFrame(columns)
    if frame.empty:
        raise Invalid("rows: the batch is empty", field="rows")
    return frame


def frame_from_upload(body: bytes, content_type: str) -> pd.DataFrame:
    """Parquet (`application/vnd.apache.parquet`) or Arrow IPC stream (`application/vnd.apache.arrow.stream`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        if kind in {"application/vnd.apache.parquet", "application/x-parquet", "application/octet-stream"}:
            table = pq.read_table(io.BytesIO(body))
        elif kind in {"application/vnd.apache.arrow.stream", "application/vnd.apache.arrow.file"}:
            table = (
                pa.ipc.open_stream(body).read_all() if kind.endswith("stream") else pa.ipc.open_file(body).read_all()
            )
        else:
            raise Invalid(
                "content-type: send application/vnd.apache.parquet or application/vnd.apache.arrow.stream",
                field="content-type",
            )
    except (pa.ArrowInvalid, OSError) as exc:
        raise Invalid(f"body: not readable as {kind}: {exc}", field="body") from None
    if table.num_rows == 0:
        raise Invalid("body: the batch is empty", field="body")
    return table.to_pandas()


def _prepare(frame: pd.DataFrame, targets: list[PushTarget]) -> pd.DataFrame:
    import pandas as pd

    if len(frame) > MAX_PUSH_ROWS:
        raise Invalid(f"rows: at most {MAX_PUSH_ROWS} rows per push", field="rows")
    needed: list[str] = []
    for target in targets:
        for column in (*target.join_keys, *target.features, target.timestamp_field):
            if column not in needed:
                needed.append(column)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise Invalid(f"rows: missing column(s) {', '.join(missing)}", field="rows", missing=missing)
    for timestamp_field in {t.timestamp_field for t in targets}:
        try:
            frame[timestamp_field] = pd.to_datetime(frame[timestamp_field], utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise Invalid(
                f"rows: column {timestamp_field!r} must hold ISO 8601 timestamps ({exc})", field=timestamp_field
            ) from None
    return frame


async def push(
    session: AsyncSession,
    runtime: FeaturesRuntime,
    project: str,
    *,
    push_source: str,
    frame: pd.DataFrame,
    to: str,
    actor: str | None,
) -> schemas.PushResult:
    gateway = runtime.gateway
    store = await gateway.run(gateway.store, project)
    targets = await gateway.run(_targets, store, push_source)
    if not targets:
        raise NotFound(f"no feature view reads from push source {push_source!r}")
    from mlplatform.modules.features.services.validation import check_batch

    frame = _prepare(frame, targets)
    now = datetime.now(UTC)
    reports = []
    rejected = False
    for target in targets:
        if target.expectations is None:
            continue
        rows_failed, failures = check_batch(frame, target.expectations, timestamp_field=target.timestamp_field, now=now)
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
                rows_checked=len(frame),
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
    if to != "online":
        await gateway.run(_refuse_read_only, store, push_source)
    granted = await granted_connections(session, runtime.platform, project)
    await gateway.run(run_with, project, granted, _write, store, push_source, frame, to)
    for row in reports:
        session.add(row)
        await publish(session, _report_event(row))
    await publish(
        session,
        events.FeaturesPushed(
            aggregate_id=f"{project}/{push_source}",
            project=project,
            push_source=push_source,
            rows=len(frame),
            to=to,
            feature_views=[t.view for t in targets],
        ),
    )
    await session.flush()
    return schemas.PushResult(
        push_source=push_source,
        rows=len(frame),
        to=to,
        feature_views=[t.view for t in targets],
        reports=[report_out(r) for r in reports],
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


def _write(store: Any, push_source: str, frame: pd.DataFrame, to: str) -> None:
    from feast.data_source import PushMode

    mode = {"online": PushMode.ONLINE, "offline": PushMode.OFFLINE, "online_and_offline": PushMode.ONLINE_AND_OFFLINE}[
        to
    ]
    store.push(push_source, frame, allow_registry_cache=False, to=mode)


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
