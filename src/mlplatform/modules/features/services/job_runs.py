"""The job functions (worker side): materialization, training datasets, validation runs.

Their Feast work runs in a thread and reports progress through `JobContext.report`, which also stops
them when the job is cancelled.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from mlplatform.kernel.events import publish
from mlplatform.kernel.jobs import JobContext
from mlplatform.modules.features import events, schemas
from mlplatform.modules.features.connections.resolved import ResolvedConnection, run_with
from mlplatform.modules.features.connections.service import granted_connections
from mlplatform.modules.features.models import DatasetRow
from mlplatform.modules.features.repositories import new_report
from mlplatform.modules.features.runtime import FeaturesRuntime, features_runtime
from mlplatform.modules.features.services.job_inputs import check_entity_key, entity_frame, iso, parse, requested

CHUNK_ROWS = 20_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def _granted(ctx: JobContext, project: str) -> dict[str, ResolvedConnection]:
    """The project's connections as granted when the job runs (a revoked grant stops later runs)."""
    async with ctx.platform.database.transaction() as session:
        return await granted_connections(session, ctx.platform, project)


async def materialize_job(ctx: JobContext) -> dict[str, Any]:
    runtime = features_runtime(ctx.platform)
    project = ctx.params["project"]
    names: list[str] = list(ctx.params["feature_views"])
    end = parse(ctx.params.get("end")) or datetime.now(UTC)
    start = parse(ctx.params.get("start"))
    incremental = bool(ctx.params.get("incremental"))
    started = time.monotonic()
    granted = await _granted(ctx, project)
    outcome = await runtime.gateway.run(
        run_with, project, granted, _materialize, runtime, project, names, start, end, incremental, ctx
    )
    seconds = time.monotonic() - started
    rows = sum(v["rows"] for v in outcome)
    async with ctx.platform.database.transaction() as session:
        await publish(
            session,
            events.FeaturesMaterialized(
                aggregate_id=f"{project}/materialization/{ctx.job_id}",
                project=project,
                feature_views=names,
                start=iso(start),
                end=iso(end) or "",
                rows=rows,
                job_id=str(ctx.job_id),
            ),
        )
    await runtime.metadata.invalidate(project)
    return {
        "feature_views": outcome,
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds, 1) if seconds > 0 else None,
    }


def _materialize(
    runtime: FeaturesRuntime,
    project: str,
    names: list[str],
    start: datetime | None,
    end: datetime,
    incremental: bool,
    ctx: JobContext,
) -> list[dict[str, Any]]:
    from mlplatform.modules.features.adapters import registry as r
    from mlplatform.modules.features.adapters.offline import PlatformOfflineStore, view_batch_source

    store = runtime.gateway.store(project)
    done: list[dict[str, Any]] = []
    for index, name in enumerate(names):
        view = r.get_view(store, name)
        ttl = view.ttl if view.ttl and view.ttl > timedelta(0) else None
        if incremental:
            last = view.most_recent_end_time
            view_start = last.astimezone(UTC) if last else (end - ttl if ttl else EPOCH)
        else:
            view_start = start or (end - ttl if ttl else EPOCH)
        batch = view_batch_source(view)
        reverse = {feature: column for column, feature in (batch.field_mapping or {}).items()}
        ctx.report(index / len(names), f"{name}: reading offline data")
        table = PlatformOfflineStore.pull_latest_from_table_or_query(
            config=store.config,
            data_source=batch,
            join_key_columns=[c.name for c in view.entity_columns],
            feature_name_columns=[reverse.get(f.name, f.name) for f in view.features],
            timestamp_field=batch.timestamp_field,
            created_timestamp_column=batch.created_timestamp_column or None,
            start_date=view_start,
            end_date=end,
        ).to_arrow()
        frame = table.to_pandas()
        if batch.field_mapping:
            frame = frame.rename(columns=dict(batch.field_mapping))
        rows = len(frame)
        for offset in range(0, rows, CHUNK_ROWS):
            store.write_to_online_store(name, df=frame.iloc[offset : offset + CHUNK_ROWS], allow_registry_cache=False)
            written = min(rows, offset + CHUNK_ROWS)
            ctx.report((index + written / rows) / len(names), f"{name}: {written}/{rows} rows written")
        store.registry.apply_materialization(view, store.project, view_start, end)
        done.append({"name": name, "rows": rows, "start": view_start.isoformat(), "end": end.isoformat()})
    ctx.report(1.0, f"{sum(v['rows'] for v in done)} rows materialized")
    return done


async def historical_job(ctx: JobContext) -> dict[str, Any]:
    runtime = features_runtime(ctx.platform)
    project = ctx.params["project"]
    dataset_id = uuid.uuid4()
    key = f"features/{project}/datasets/{dataset_id}.parquet"
    granted = await _granted(ctx, project)
    built = await runtime.gateway.run(run_with, project, granted, _build_dataset, runtime, ctx, key)
    async with ctx.platform.database.transaction() as session:
        row = DatasetRow(
            id=dataset_id,
            project=project,
            name=ctx.params.get("name"),
            feature_service=ctx.params.get("feature_service"),
            features={"refs": ctx.params["features"], "views": built["views"], "columns": built["columns"]},
            row_count=built["rows"],
            size_bytes=built["size"],
            uri=built["uri"],
            object_key=key,
            job_id=ctx.job_id,
            created_by=ctx.created_by,
        )
        session.add(row)
        await publish(
            session,
            events.TrainingDatasetCreated(
                aggregate_id=str(dataset_id),
                project=project,
                dataset_id=str(dataset_id),
                name=row.name,
                feature_service=row.feature_service,
                feature_views=built["views"],
                row_count=built["rows"],
                uri=built["uri"],
                job_id=str(ctx.job_id),
            ),
        )
    return {"dataset_id": str(dataset_id), "uri": built["uri"], "rows": built["rows"], "columns": built["columns"]}


def _build_dataset(runtime: FeaturesRuntime, ctx: JobContext, key: str) -> dict[str, Any]:
    from mlplatform.modules.features.adapters import registry as r

    project = ctx.params["project"]
    store = runtime.gateway.store(project)
    ctx.report(0.05, "reading entity rows")
    entity_key = check_entity_key(project, ctx.params.get("entity_key"))
    entities = runtime.location.read(runtime.location.uri_for(entity_key)).to_pandas()
    refs: list[str] = ctx.params["features"]
    _, join_keys = requested(store, None, refs)
    entities = entity_frame(entities, join_keys)
    ctx.report(0.2, f"joining {len(refs)} features onto {len(entities)} entity rows")
    service = ctx.params.get("feature_service")
    wanted: Any = r.get_service(store, service) if service else refs
    table = store.get_historical_features(
        entity_df=entities, features=wanted, full_feature_names=bool(ctx.params.get("full_feature_names"))
    ).to_arrow()
    ctx.report(0.8, f"writing {table.num_rows} rows")
    uri = runtime.location.uri_for(key)
    size = runtime.location.write(uri, table)
    views = []
    for name in dict.fromkeys(ref.split(":", 1)[0] for ref in refs):
        views.append({"name": name, "version": r.view_version(r.get_view(store, name))})
    return {"rows": table.num_rows, "columns": table.column_names, "uri": uri, "size": size, "views": views}


async def validate_job(ctx: JobContext) -> dict[str, Any]:
    runtime = features_runtime(ctx.platform)
    project = ctx.params["project"]
    view_name = ctx.params["feature_view"]
    now = datetime.now(UTC)
    granted = await _granted(ctx, project)
    summary = await runtime.gateway.run(run_with, project, granted, _profile_view, runtime, ctx, now)
    row = new_report(
        project=project,
        feature_view=view_name,
        kind="profile",
        outcome="failed" if summary["failures"] else "passed",
        rows_checked=summary["rows"],
        rows_failed=summary["rows_failed"],
        failures=summary["failures"],
        profile=summary["profile"],
        freshness_seconds=summary["freshness"],
        job_id=ctx.job_id,
        created_by=ctx.created_by,
    )
    async with ctx.platform.database.transaction() as session:
        session.add(row)
        await publish(
            session,
            events.ValidationReportCreated(
                aggregate_id=f"{project}/{view_name}",
                project=project,
                report_id=str(row.id),
                feature_view=view_name,
                kind="profile",
                outcome=row.outcome,
                rows_checked=row.rows_checked,
                rows_failed=row.rows_failed,
            ),
        )
    return {"report_id": str(row.id), "outcome": row.outcome, "rows": summary["rows"]}


def _profile_view(runtime: FeaturesRuntime, ctx: JobContext, now: datetime) -> dict[str, Any]:
    from mlplatform.modules.features.adapters import registry as r
    from mlplatform.modules.features.adapters.offline import read_source, view_batch_source
    from mlplatform.modules.features.services.validation import check_batch, profile

    store = runtime.gateway.store(ctx.params["project"])
    view = r.get_view(store, ctx.params["feature_view"])
    batch = view_batch_source(view)
    reverse = {feature: column for column, feature in (batch.field_mapping or {}).items()}
    features = [f.name for f in view.features]
    ctx.report(0.1, "reading offline data")
    frame = read_source(
        store.config,
        batch,
        [*(c.name for c in view.entity_columns), *(reverse.get(f, f) for f in features), batch.timestamp_field],
        batch.timestamp_field,
        parse(ctx.params.get("start")),
        parse(ctx.params.get("end")),
    )
    if batch.field_mapping:
        frame = frame.rename(columns=dict(batch.field_mapping))
    ctx.report(0.6, f"profiling {len(frame)} rows")
    columns, freshness = profile(frame, features, timestamp_field=batch.timestamp_field, now=now)
    failures: list[schemas.ColumnFailure] = []
    rows_failed = 0
    expectations = r.view_expectations(view)
    if expectations is not None:
        column_rules = msgspec.structs.replace(expectations, max_staleness_seconds=None)
        rows_failed, failures = check_batch(frame, column_rules, timestamp_field=batch.timestamp_field, now=now)
        if expectations.max_staleness_seconds is not None and (
            freshness is None or freshness > expectations.max_staleness_seconds
        ):
            failures.append(
                schemas.ColumnFailure(
                    column=batch.timestamp_field,
                    check="max_staleness",
                    failed_rows=0,
                    rows=[],
                    message=f"newest row is {freshness if freshness is not None else 'missing'} s old "
                    f"(limit {expectations.max_staleness_seconds} s)",
                )
            )
    return {
        "rows": len(frame),
        "rows_failed": rows_failed,
        "failures": failures,
        "profile": columns,
        "freshness": freshness,
    }
