"""Models and versions: register, read, update, search."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, Response, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Forbidden
from mlplatform.kernel.pagination import Page
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.controllers._http import ETAG_HEADER, PROJECT_PATH, TAGS, IfMatch, aware, with_etag
from mlplatform.modules.catalogue.repositories import ModelFilters, VersionFilters
from mlplatform.modules.catalogue.rules import parse_tag_filters
from mlplatform.modules.catalogue.services.models import ModelService, NewVersion
from mlplatform.modules.experiments.api import check_model_source
from mlplatform.modules.gateway.api import Principal, Role, requires_role

TagFilter = Annotated[
    list[str] | None,
    Parameter(query="tag", required=False, description="`key:value`; repeat for several (all must match)."),
]
Sort = Annotated[str | None, Parameter(required=False, description="Sort order; `-` prefix for descending.")]


class ModelController(Controller):
    path = PROJECT_PATH + "/models"
    tags = TAGS

    @post(
        "/",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Register a model",
        response_headers=ETAG_HEADER,
        status_code=201,
    )
    async def create_model(
        self, project: str, data: schemas.ModelCreate, db_session: AsyncSession, principal: Principal
    ) -> Response[schemas.Model]:
        model = await ModelService(db_session, principal.subject).create_model(project, data)
        return with_etag(model, model.etag, status_code=201, location=f"/api/v1/projects/{project}/models/{model.name}")

    @get(
        "/",
        guards=[requires_role(Role.VIEWER)],
        summary="Search models",
        description="Filters combine with AND. Sorts: name, -name, updated_at, -updated_at, created_at, -created_at.",
    )
    async def list_models(
        self,
        project: str,
        db_session: AsyncSession,
        principal: Principal,
        tag: TagFilter = None,
        q: Annotated[str | None, Parameter(max_length=200, required=False)] = None,
        owner: str | None = None,
        task_type: str | None = None,
        stage: str | None = None,
        framework: str | None = None,
        updated_since: datetime | None = None,
        sort: Sort = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[schemas.Model]:
        filters = ModelFilters(
            q=q,
            tags=parse_tag_filters(tag or []),
            owner=owner,
            task_type=task_type,
            stage=stage,
            framework=framework,
            updated_since=aware(updated_since, "updated_since"),
        )
        return await ModelService(db_session, principal.subject).search_models(
            project, filters, sort=sort, cursor=cursor, limit=limit
        )

    @get("/{model:str}", guards=[requires_role(Role.VIEWER)], summary="A model", response_headers=ETAG_HEADER)
    async def get_model(
        self, project: str, model: str, db_session: AsyncSession, principal: Principal
    ) -> Response[schemas.Model]:
        found = await ModelService(db_session, principal.subject).get_model(project, model)
        return with_etag(found, found.etag)

    @patch(
        "/{model:str}",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Update a model (If-Match supported)",
        description="Changing `approval_policy` or `required_validations` needs the maintainer role.",
        response_headers=ETAG_HEADER,
    )
    async def update_model(
        self,
        project: str,
        model: str,
        data: schemas.ModelUpdate,
        db_session: AsyncSession,
        principal: Principal,
        if_match: IfMatch = None,
    ) -> Response[schemas.Model]:
        if (data.approval_policy is not None or data.required_validations is not None) and not principal.can(
            project, Role.MAINTAINER
        ):
            raise Forbidden("changing approval_policy or required_validations needs the maintainer role")
        updated = await ModelService(db_session, principal.subject).update_model(
            project, model, data, if_match=if_match
        )
        return with_etag(updated, updated.etag)

    @post(
        "/{model:str}/versions",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Register a model version",
        response_headers=ETAG_HEADER,
        status_code=201,
    )
    async def create_version(
        self,
        project: str,
        model: str,
        data: schemas.ModelVersionCreate,
        db_session: AsyncSession,
        principal: Principal,
        platform: PlatformContext,
    ) -> Response[schemas.ModelVersion]:
        """A source run or a `runs:/`, `models:/`, `mlflow-artifacts:/` URI must be the project's own (422)."""
        await check_model_source(platform, project, run_id=data.source_run_id, model_uri=data.model_uri)
        created = await ModelService(db_session, principal.subject).create_version(
            project, model, NewVersion.from_schema(data)
        )
        location = f"/api/v1/projects/{project}/models/{model}/versions/{created.version}"
        return with_etag(created, created.etag, status_code=201, location=location)

    @get(
        "/{model:str}/versions",
        guards=[requires_role(Role.VIEWER)],
        summary="Search a model's versions",
        description="Sorts: version, -version (default), created_at, -created_at, updated_at, -updated_at.",
    )
    async def list_model_versions(
        self,
        project: str,
        model: str,
        db_session: AsyncSession,
        principal: Principal,
        tag: TagFilter = None,
        q: Annotated[str | None, Parameter(max_length=200, required=False)] = None,
        stage: str | None = None,
        framework: str | None = None,
        run_id: str | None = None,
        updated_since: datetime | None = None,
        sort: Sort = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[schemas.ModelVersion]:
        return await _search_versions(
            db_session, principal, project, model, tag, q, stage, framework, run_id, updated_since, sort, cursor, limit
        )

    @get(
        "/{model:str}/versions/{version:int}",
        guards=[requires_role(Role.VIEWER)],
        summary="A model version, with its validation status and pending request",
        response_headers=ETAG_HEADER,
    )
    async def get_version(
        self, project: str, model: str, version: int, db_session: AsyncSession, principal: Principal
    ) -> Response[schemas.ModelVersion]:
        found = await ModelService(db_session, principal.subject).get_version(project, model, version)
        return with_etag(found, found.etag)

    @patch(
        "/{model:str}/versions/{version:int}",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Update a model version's description, framework or tags (If-Match supported)",
        response_headers=ETAG_HEADER,
    )
    async def update_version(
        self,
        project: str,
        model: str,
        version: int,
        data: schemas.ModelVersionUpdate,
        db_session: AsyncSession,
        principal: Principal,
        if_match: IfMatch = None,
    ) -> Response[schemas.ModelVersion]:
        updated = await ModelService(db_session, principal.subject).update_version(
            project, model, version, data, if_match=if_match
        )
        return with_etag(updated, updated.etag)


@get(
    PROJECT_PATH + "/model-versions",
    tags=TAGS,
    guards=[requires_role(Role.VIEWER)],
    summary="Search model versions across the project's models",
    description="Sorts: -created_at (default), created_at, updated_at, -updated_at.",
)
async def search_model_versions(
    project: str,
    db_session: AsyncSession,
    principal: Principal,
    tag: TagFilter = None,
    q: Annotated[str | None, Parameter(max_length=200, required=False)] = None,
    stage: str | None = None,
    framework: str | None = None,
    run_id: str | None = None,
    updated_since: datetime | None = None,
    sort: Sort = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[schemas.ModelVersion]:
    return await _search_versions(
        db_session, principal, project, None, tag, q, stage, framework, run_id, updated_since, sort, cursor, limit
    )


async def _search_versions(
    db_session: AsyncSession,
    principal: Principal,
    project: str,
    model: str | None,
    tag: list[str] | None,
    q: str | None,
    stage: str | None,
    framework: str | None,
    run_id: str | None,
    updated_since: datetime | None,
    sort: str | None,
    cursor: str | None,
    limit: int | None,
) -> Page[schemas.ModelVersion]:
    filters = VersionFilters(
        q=q,
        tags=parse_tag_filters(tag or []),
        stage=stage,
        framework=framework,
        source_run_id=run_id,
        updated_since=aware(updated_since, "updated_since"),
    )
    return await ModelService(db_session, principal.subject).search_versions(
        project, filters, model_name=model, sort=sort, cursor=cursor, limit=limit
    )
