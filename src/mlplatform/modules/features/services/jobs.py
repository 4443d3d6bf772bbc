"""Registering the module's job kinds, and submitting jobs from requests (validated up front, so a bad
request is a 422, not a failed job)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import Invalid, NotFound
from mlplatform.kernel.jobs import JobDefinition, JobRegistry, KernelJob, jobs_runtime
from mlplatform.kernel.storage.project_paths import InvalidPath, project_key
from mlplatform.modules.features import schemas
from mlplatform.modules.features.runtime import FeaturesRuntime
from mlplatform.modules.features.services.files import store_errors
from mlplatform.modules.features.services.job_inputs import (
    entity_frame,
    entity_rows_key,
    iso,
    parquet_bytes,
    requested,
)
from mlplatform.modules.features.services.job_runs import historical_job, materialize_job, validate_job

MATERIALIZE = "features.materialize"
HISTORICAL = "features.historical"
VALIDATE = "features.validate"


def register_jobs(registry: JobRegistry) -> None:
    """The module's job kinds (`Module.jobs`: the kernel calls this once at start-up)."""
    registry.register(
        JobDefinition(
            MATERIALIZE,
            materialize_job,
            max_attempts=3,
            timeout_seconds=6 * 3600,
            description="Offline -> online store",
        )
    )
    registry.register(
        JobDefinition(
            HISTORICAL, historical_job, max_attempts=2, timeout_seconds=6 * 3600, description="Training dataset"
        )
    )
    registry.register(
        JobDefinition(VALIDATE, validate_job, max_attempts=2, timeout_seconds=3600, description="Profile a view")
    )


# ---------------------------------------------------------------- submission (request side)


async def submit_materialization(
    session: AsyncSession,
    runtime: FeaturesRuntime,
    project: str,
    data: schemas.MaterializationCreate,
    actor: str | None,
) -> KernelJob:
    store = await runtime.gateway.run(runtime.gateway.store, project)
    names = await runtime.gateway.run(_views_to_materialize, store, data.feature_views)
    if data.start and data.end and data.start >= data.end:
        raise Invalid("start: must be before end", field="start")
    if data.incremental and data.start:
        raise Invalid("start: an incremental materialization starts where the last one ended", field="start")
    params = {
        "project": project,
        "feature_views": names,
        "start": iso(data.start),
        "end": iso(data.end),
        "incremental": data.incremental,
    }
    return await jobs_runtime(runtime.platform).submit(
        session, kind=MATERIALIZE, params=params, project=project, created_by=actor
    )


async def submit_historical(
    session: AsyncSession, runtime: FeaturesRuntime, project: str, data: schemas.HistoricalCreate, actor: str | None
) -> KernelJob:
    sources = [data.entity_rows is not None, data.entity_columns is not None, data.entity_path is not None]
    if sum(sources) != 1:
        raise Invalid(
            "entity_rows: give exactly one of entity_rows, entity_columns or entity_path", field="entity_rows"
        )
    if bool(data.feature_service) == bool(data.features):
        raise Invalid("features: give either feature_service or features", field="features")
    store = await runtime.gateway.run(runtime.gateway.store, project)
    refs, join_keys = await runtime.gateway.run(requested, store, data.feature_service, data.features)
    if data.entity_path is not None:
        try:
            key = project_key(project, data.entity_path)
        except InvalidPath as exc:
            raise Invalid(f"entity_path: {exc.reason}", field="entity_path") from None
        with store_errors(data.entity_path):
            exists = await runtime.platform.object_store.exists(key)
        if not exists:
            raise Invalid(f"entity_path: no file at {data.entity_path!r} in the project's folder", field="entity_path")
    else:
        key = entity_rows_key(project, uuid.uuid4())
        body = await runtime.gateway.run(_entity_parquet, data, join_keys)
        with store_errors(key):
            await runtime.platform.object_store.put(key, body, content_type="application/vnd.apache.parquet")
    params = {
        "project": project,
        "feature_service": data.feature_service,
        "features": refs,
        "entity_key": key,
        "full_feature_names": data.full_feature_names,
        "name": data.name,
    }
    return await jobs_runtime(runtime.platform).submit(
        session, kind=HISTORICAL, params=params, project=project, created_by=actor
    )


async def submit_validation(
    session: AsyncSession,
    runtime: FeaturesRuntime,
    project: str,
    view: str,
    data: schemas.ValidationRunCreate,
    actor: str | None,
) -> KernelJob:
    store = await runtime.gateway.run(runtime.gateway.store, project)
    await runtime.gateway.run(_view_exists, store, view)
    params = {"project": project, "feature_view": view, "start": iso(data.start), "end": iso(data.end)}
    return await jobs_runtime(runtime.platform).submit(
        session, kind=VALIDATE, params=params, project=project, created_by=actor
    )


# ---------------------------------------------------------------- blocking helpers (Feast, pandas: worker threads)


def _views_to_materialize(store: Any, names: list[str] | None) -> list[str]:
    """The named views, which must exist (422 naming the position); none named: every online view."""
    from mlplatform.modules.features.adapters import registry as r

    if not names:
        online = [v.name for v in r.list_views(store) if v.online]
        if not online:
            raise Invalid("feature_views: the project has no online feature views", field="feature_views")
        return online
    for position, name in enumerate(names):
        try:
            r.get_view(store, name)
        except NotFound:
            raise Invalid(
                f"feature_views[{position}]: no feature view named {name!r}", field=f"feature_views[{position}]"
            ) from None
    return names


def _view_exists(store: Any, name: str) -> None:
    from mlplatform.modules.features.adapters import registry as r

    r.get_view(store, name)


def _entity_parquet(data: schemas.HistoricalCreate, join_keys: set[str]) -> bytes:
    import pandas as pd

    frame = (
        pd.DataFrame.from_records(data.entity_rows)
        if data.entity_rows is not None
        else pd.DataFrame(data.entity_columns)
    )
    return parquet_bytes(entity_frame(frame, join_keys))
