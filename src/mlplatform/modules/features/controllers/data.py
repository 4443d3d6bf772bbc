"""Materializations, training sets, validation runs (all jobs), datasets, reports and feature_store.yaml."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.jobs import Job
from mlplatform.modules.features import repositories, schemas
from mlplatform.modules.features.adapters.feast_config import feature_store_yaml, public_base_url
from mlplatform.modules.features.controllers.dependencies import PAGE_REQUEST, DefinitionName, PageRequest
from mlplatform.modules.features.controllers.media_types import TEXT, YAML, also_as_text
from mlplatform.modules.features.runtime import FeaturesRuntime
from mlplatform.modules.features.services import jobs
from mlplatform.modules.gateway.api import Principal, Role, requires_role

BASE = "/api/v1/projects/{project:str}/features"
VIEW = [requires_role(Role.VIEWER)]
EDIT = [requires_role(Role.CONTRIBUTOR)]


@post(f"{BASE}/materializations", guards=EDIT, tags=["features"], status_code=202, summary="Materialize (job)")
async def create_materialization(
    project: str,
    data: schemas.MaterializationCreate,
    features_runtime: FeaturesRuntime,
    db_session: AsyncSession,
    principal: Principal,
) -> Job:
    """Copy the newest offline rows of the views into the online store, as a job (follow it at
    `/api/v1/jobs/{id}`). Full range (start..end) or incremental (from where the last run ended)."""
    record = await jobs.submit_materialization(db_session, features_runtime, project, data, principal.subject)
    return Job.from_row(record)


@post(f"{BASE}/historical", guards=EDIT, tags=["features"], status_code=202, summary="Build a training dataset (job)")
async def create_training_dataset(
    project: str,
    data: schemas.HistoricalCreate,
    features_runtime: FeaturesRuntime,
    db_session: AsyncSession,
    principal: Principal,
) -> Job:
    """Point-in-time-correct features for entity rows (inline or a parquet object), written as parquet
    to the object store with a dataset record. Every entity row is kept (nulls where no value was valid)."""
    record = await jobs.submit_historical(db_session, features_runtime, project, data, principal.subject)
    return Job.from_row(record)


@get(f"{BASE}/datasets", guards=VIEW, tags=["features"], summary="List training datasets", dependencies=PAGE_REQUEST)
async def list_datasets(project: str, db_session: AsyncSession, page_request: PageRequest) -> schemas.DatasetPage:
    return await repositories.list_datasets(db_session, project, page_request.cursor, page_request.limit)


@get(f"{BASE}/datasets/{{dataset_id:uuid}}", guards=VIEW, tags=["features"], summary="Get a training dataset")
async def get_dataset(project: str, dataset_id: uuid.UUID, db_session: AsyncSession) -> schemas.Dataset:
    return await repositories.get_dataset(db_session, project, dataset_id)


@post(
    f"{BASE}/feature-views/{{name:str}}/validations",
    guards=EDIT,
    tags=["features"],
    status_code=202,
    summary="Profile a feature view and check its expectations (job)",
)
async def create_validation_run(
    project: str,
    name: DefinitionName,
    data: schemas.ValidationRunCreate,
    features_runtime: FeaturesRuntime,
    db_session: AsyncSession,
    principal: Principal,
) -> Job:
    """Count, null fraction, min/max/mean/std per feature and freshness over the view's offline data
    (optionally a time range); stores a report."""
    record = await jobs.submit_validation(db_session, features_runtime, project, name, data, principal.subject)
    return Job.from_row(record)


@get(
    f"{BASE}/feature-views/{{name:str}}/validations",
    guards=VIEW,
    tags=["features"],
    summary="List validation reports",
    dependencies=PAGE_REQUEST,
)
async def list_validation_reports(
    project: str, name: DefinitionName, db_session: AsyncSession, page_request: PageRequest
) -> schemas.ValidationReportPage:
    return await repositories.list_reports(db_session, project, name, page_request.cursor, page_request.limit)


@get(
    f"{BASE}/feature-views/{{name:str}}/validations/{{report_id:uuid}}",
    guards=VIEW,
    tags=["features"],
    summary="Get a validation report",
)
async def get_validation_report(
    project: str, name: DefinitionName, report_id: uuid.UUID, db_session: AsyncSession
) -> schemas.ValidationReport:
    return await repositories.get_report(db_session, project, name, report_id)


@get(
    f"{BASE}/feature_store.yaml",
    guards=VIEW,
    tags=["features"],
    summary="A Feast feature_store.yaml for this project",
    media_type=YAML,
    responses={
        200: ResponseSpec(
            data_container=schemas.FeatureStoreConfig,
            media_type=YAML,
            description="The YAML document (the same text as `text/plain` when `Accept` prefers it)",
            generate_examples=False,
        )
    },
    operation_class=also_as_text(),
)
async def get_feature_store_yaml(
    project: str, features_runtime: FeaturesRuntime, request: Request[Any, Any, Any]
) -> Response[str]:
    """A config for the stock Feast SDK that needs only a platform token (`MLPLATFORM_TOKEN`): the registry
    through the platform's read-only gRPC registry port, online reads through `/feast/{project}`. It names
    no database and no address taken from the request (`MLPLATFORM_SERVER__PUBLIC_URL`,
    `MLPLATFORM_FEAST_REGISTRY__PUBLIC_ADDRESS`). 503 while the registry port is not open.

    `application/yaml` (a `FeatureStoreConfig` mapping, with comments), or the same text as `text/plain`
    when `Accept` prefers that (a browser, a generated client reading text)."""
    settings = features_runtime.platform.settings
    text = feature_store_yaml(
        project,
        base_url=public_base_url(settings),
        registry_address=await features_runtime.registry_endpoint.address(),
        registry_tls=settings.feast_registry.public_tls,
    )
    return Response(text, media_type=request.accept.best_match([YAML, TEXT], default=YAML) or YAML)


DATA_HANDLERS = [
    create_materialization,
    create_training_dataset,
    list_datasets,
    get_dataset,
    create_validation_run,
    list_validation_reports,
    get_validation_report,
    get_feature_store_yaml,
]
