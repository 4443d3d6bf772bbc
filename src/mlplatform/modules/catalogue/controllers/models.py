"""Models and versions: register, read, update, search."""

from __future__ import annotations

from litestar import Controller, Response, get, patch, post

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Conflict, Forbidden
from mlplatform.kernel.page_parameters import PageCursor, PageLimit
from mlplatform.kernel.pagination import Page
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.controllers.dependencies import (
    ETAG_HEADER,
    MODEL_DEPENDENCIES,
    PROJECT_PATH,
    TAGS,
    IfMatch,
    ModelPath,
    ModelSort,
    ModelVersionSort,
    VersionPath,
    VersionSort,
    with_etag,
)
from mlplatform.modules.catalogue.repositories import ModelFilters, VersionFilters
from mlplatform.modules.catalogue.services.models import ModelService, NewVersion
from mlplatform.modules.experiments.api import check_model_source
from mlplatform.modules.gateway.api import Principal, Role, requires_role


class ModelController(Controller):
    path = PROJECT_PATH + "/models"
    tags = TAGS
    dependencies = MODEL_DEPENDENCIES

    @post(
        "/",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Register a model",
        response_headers=ETAG_HEADER,
        status_code=201,
        raises=[Conflict],
    )
    async def create_model(
        self, project: str, data: schemas.ModelCreate, model_service: ModelService
    ) -> Response[schemas.Model]:
        model = await model_service.create_model(project, data)
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
        model_filters: ModelFilters,
        model_service: ModelService,
        sort: ModelSort | None = None,
        cursor: PageCursor = None,
        limit: PageLimit = None,
    ) -> Page[schemas.Model]:
        return await model_service.search_models(project, model_filters, sort=sort, cursor=cursor, limit=limit)

    @get("/{model:str}", guards=[requires_role(Role.VIEWER)], summary="A model", response_headers=ETAG_HEADER)
    async def get_model(self, project: str, model: ModelPath, model_service: ModelService) -> Response[schemas.Model]:
        found = await model_service.get_model(project, model)
        return with_etag(found, found.etag)

    @patch(
        "/{model:str}",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Update a model (If-Match supported)",
        raises=[Forbidden],
        description="Changing `approval_policy` or `required_validations` needs the maintainer role.",
        response_headers=ETAG_HEADER,
    )
    async def update_model(
        self,
        project: str,
        model: ModelPath,
        data: schemas.ModelUpdate,
        model_service: ModelService,
        principal: Principal,
        if_match: IfMatch = None,
    ) -> Response[schemas.Model]:
        if (data.approval_policy is not None or data.required_validations is not None) and not principal.can(
            project, Role.MAINTAINER
        ):
            raise Forbidden("changing approval_policy or required_validations needs the maintainer role")
        updated = await model_service.update_model(project, model, data, if_match=if_match)
        return with_etag(updated, updated.etag)

    @post(
        "/{model:str}/versions",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Register a model version",
        raises=[Conflict],
        response_headers=ETAG_HEADER,
        status_code=201,
    )
    async def create_version(
        self,
        project: str,
        model: ModelPath,
        data: schemas.ModelVersionCreate,
        model_service: ModelService,
        platform: PlatformContext,
    ) -> Response[schemas.ModelVersion]:
        """A source run or a `runs:/`, `models:/`, `mlflow-artifacts:/` URI must be the project's own (422)."""
        await check_model_source(platform, project, run_id=data.source_run_id, model_uri=data.model_uri)
        created = await model_service.create_version(project, model, NewVersion.from_schema(data))
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
        model: ModelPath,
        version_filters: VersionFilters,
        model_service: ModelService,
        sort: ModelVersionSort | None = None,
        cursor: PageCursor = None,
        limit: PageLimit = None,
    ) -> Page[schemas.ModelVersion]:
        return await model_service.search_versions(
            project, version_filters, model_name=model, sort=sort, cursor=cursor, limit=limit
        )

    @get(
        "/{model:str}/versions/{version:int}",
        guards=[requires_role(Role.VIEWER)],
        summary="A model version, with its validation status and pending request",
        response_headers=ETAG_HEADER,
    )
    async def get_version(
        self, project: str, model: ModelPath, version: VersionPath, model_service: ModelService
    ) -> Response[schemas.ModelVersion]:
        found = await model_service.get_version(project, model, version)
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
        model: ModelPath,
        version: VersionPath,
        data: schemas.ModelVersionUpdate,
        model_service: ModelService,
        if_match: IfMatch = None,
    ) -> Response[schemas.ModelVersion]:
        updated = await model_service.update_version(project, model, version, data, if_match=if_match)
        return with_etag(updated, updated.etag)


@get(
    PROJECT_PATH + "/model-versions",
    tags=TAGS,
    guards=[requires_role(Role.VIEWER)],
    summary="Search model versions across the project's models",
    description="Sorts: -created_at (default), created_at, updated_at, -updated_at.",
    dependencies=MODEL_DEPENDENCIES,
)
async def search_model_versions(
    project: str,
    version_filters: VersionFilters,
    model_service: ModelService,
    sort: VersionSort | None = None,
    cursor: PageCursor = None,
    limit: PageLimit = None,
) -> Page[schemas.ModelVersion]:
    return await model_service.search_versions(
        project, version_filters, model_name=None, sort=sort, cursor=cursor, limit=limit
    )
