"""Entities, data sources, feature views and feature services as JSON over REST.

The four kinds have the same routes (list, create, get, create-or-replace by name, delete), written out
per kind so that each handler's name, hence its OpenAPI operation id (`features_list_entities`,
`features_replace_feature_view`), is in the source. What differs per kind beyond its types is in
`services/definitions.py` and `adapters/kinds.py`.
"""

from __future__ import annotations

from typing import TypeVar

from litestar import Controller, Response, delete, get, post, put
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import Conflict
from mlplatform.modules.features import schemas
from mlplatform.modules.features.controllers.dependencies import (
    PAGE_REQUEST,
    DefinitionName,
    PageRequest,
    provide_definitions,
)
from mlplatform.modules.features.services.definitions import DefinitionService
from mlplatform.modules.gateway.api import Role, requires_role

BASE = "/api/v1/projects/{project:str}/features"
VIEW = [requires_role(Role.VIEWER)]
EDIT = [requires_role(Role.CONTRIBUTOR)]
T = TypeVar("T")
DEFINITIONS = {"definitions": Provide(provide_definitions, sync_to_thread=False), **PAGE_REQUEST}

_REPLACE = (
    "Create-or-replace by name: the body's `name` must be the one in the path. 201 when it was created, 200 "
    "when it replaced the existing definition; the same checks as creating it (422 naming the field), the "
    "same event."
)


def _created(schema: type) -> dict[int, ResponseSpec]:
    """The PUT's other answer: 201 with the definition when no definition had the name."""
    return {
        201: ResponseSpec(
            data_container=schema, description="Created (no definition had this name)", generate_examples=False
        )
    }


def _answer(saved: T, created: bool) -> Response[T]:
    return Response(saved, status_code=201 if created else 200)


class EntityController(Controller):
    path = f"{BASE}/entities"
    tags = ["features"]
    dependencies = DEFINITIONS

    @get("/", guards=VIEW, summary="List entities")
    async def list_entities(
        self, project: str, definitions: DefinitionService, page_request: PageRequest
    ) -> schemas.EntityPage:
        page = await definitions.page("entity", project, page_request.cursor, page_request.limit)
        return schemas.EntityPage(items=page.items, next_cursor=page.next_cursor)

    @post(
        "/",
        guards=EDIT,
        status_code=201,
        summary="Create an entity",
        description="422 naming the field for a duplicate name.",
    )
    async def create_entity(
        self, project: str, data: schemas.EntityCreate, definitions: DefinitionService, db_session: AsyncSession
    ) -> schemas.Entity:
        created: schemas.Entity = (await definitions.save(db_session, "entity", project, data))[0]
        return created

    @get("/{name:str}", guards=VIEW, summary="Get an entity")
    async def get_entity(self, project: str, name: DefinitionName, definitions: DefinitionService) -> schemas.Entity:
        found: schemas.Entity = await definitions.read("entity", project, name)
        return found

    @put(
        "/{name:str}",
        guards=EDIT,
        status_code=200,
        summary="Create or replace an entity",
        description=f"{_REPLACE} 409 when feature views use the entity and its join key or value type changes.",
        responses=_created(schemas.Entity),
        raises=[Conflict],
    )
    async def replace_entity(
        self,
        project: str,
        name: DefinitionName,
        data: schemas.EntityCreate,
        definitions: DefinitionService,
        db_session: AsyncSession,
    ) -> Response[schemas.Entity]:
        return _answer(*await definitions.replace(db_session, "entity", project, name, data))

    @delete(
        "/{name:str}", guards=EDIT, summary="Delete an entity (409 while a feature view uses it)", raises=[Conflict]
    )
    async def delete_entity(
        self, project: str, name: DefinitionName, definitions: DefinitionService, db_session: AsyncSession
    ) -> None:
        await definitions.delete(db_session, "entity", project, name)


class DataSourceController(Controller):
    path = f"{BASE}/data-sources"
    tags = ["features"]
    dependencies = DEFINITIONS

    @get("/", guards=VIEW, summary="List data sources")
    async def list_data_sources(
        self, project: str, definitions: DefinitionService, page_request: PageRequest
    ) -> schemas.DataSourcePage:
        page = await definitions.page("data_source", project, page_request.cursor, page_request.limit)
        return schemas.DataSourcePage(items=page.items, next_cursor=page.next_cursor)

    @post(
        "/",
        guards=EDIT,
        status_code=201,
        summary="Create a data source",
        description="Kinds: parquet, postgres or push. When data already exists, its columns are checked "
        "(timestamp and mapped columns must exist).",
    )
    async def create_data_source(
        self, project: str, data: schemas.DataSourceCreate, definitions: DefinitionService, db_session: AsyncSession
    ) -> schemas.DataSource:
        created: schemas.DataSource = (await definitions.save(db_session, "data_source", project, data))[0]
        return created

    @get("/{name:str}", guards=VIEW, summary="Get a data source")
    async def get_data_source(
        self, project: str, name: DefinitionName, definitions: DefinitionService
    ) -> schemas.DataSource:
        found: schemas.DataSource = await definitions.read("data_source", project, name)
        return found

    @put(
        "/{name:str}",
        guards=EDIT,
        status_code=200,
        summary="Create or replace a data source",
        description=f"{_REPLACE} 409 when feature views or push sources use the source and more than its "
        "description, tags or owner changes (they keep a copy of it).",
        responses=_created(schemas.DataSource),
        raises=[Conflict],
    )
    async def replace_data_source(
        self,
        project: str,
        name: DefinitionName,
        data: schemas.DataSourceCreate,
        definitions: DefinitionService,
        db_session: AsyncSession,
    ) -> Response[schemas.DataSource]:
        return _answer(*await definitions.replace(db_session, "data_source", project, name, data))

    @delete("/{name:str}", guards=EDIT, summary="Delete a data source (409 while something uses it)", raises=[Conflict])
    async def delete_data_source(
        self, project: str, name: DefinitionName, definitions: DefinitionService, db_session: AsyncSession
    ) -> None:
        await definitions.delete(db_session, "data_source", project, name)


class FeatureViewController(Controller):
    path = f"{BASE}/feature-views"
    tags = ["features"]
    dependencies = DEFINITIONS

    @get("/", guards=VIEW, summary="List feature views")
    async def list_feature_views(
        self, project: str, definitions: DefinitionService, page_request: PageRequest
    ) -> schemas.FeatureViewPage:
        page = await definitions.page("feature_view", project, page_request.cursor, page_request.limit)
        return schemas.FeatureViewPage(items=page.items, next_cursor=page.next_cursor)

    @post(
        "/",
        guards=EDIT,
        status_code=201,
        summary="Create a feature view",
        description="422 naming the field for an unknown entity or source, a duplicate name, or a type that "
        "does not match the source's data; the registry is left unchanged.",
    )
    async def create_feature_view(
        self, project: str, data: schemas.FeatureViewCreate, definitions: DefinitionService, db_session: AsyncSession
    ) -> schemas.FeatureView:
        created: schemas.FeatureView = (await definitions.save(db_session, "feature_view", project, data))[0]
        return created

    @get("/{name:str}", guards=VIEW, summary="Get a feature view")
    async def get_feature_view(
        self, project: str, name: DefinitionName, definitions: DefinitionService
    ) -> schemas.FeatureView:
        found: schemas.FeatureView = await definitions.read("feature_view", project, name)
        return found

    @put(
        "/{name:str}",
        guards=EDIT,
        status_code=200,
        summary="Create or replace a feature view",
        description=f"{_REPLACE} The view's `version` changes with its definition; rows already in the online "
        "store stay. 409 when a feature service serves a feature the new definition drops.",
        responses=_created(schemas.FeatureView),
        raises=[Conflict],
    )
    async def replace_feature_view(
        self,
        project: str,
        name: DefinitionName,
        data: schemas.FeatureViewCreate,
        definitions: DefinitionService,
        db_session: AsyncSession,
    ) -> Response[schemas.FeatureView]:
        return _answer(*await definitions.replace(db_session, "feature_view", project, name, data))

    @delete(
        "/{name:str}",
        guards=EDIT,
        summary="Delete a feature view and its online data (409 while a feature service uses it)",
        raises=[Conflict],
    )
    async def delete_feature_view(
        self, project: str, name: DefinitionName, definitions: DefinitionService, db_session: AsyncSession
    ) -> None:
        await definitions.delete(db_session, "feature_view", project, name)


class FeatureServiceController(Controller):
    path = f"{BASE}/feature-services"
    tags = ["features"]
    dependencies = DEFINITIONS

    @get("/", guards=VIEW, summary="List feature services")
    async def list_feature_services(
        self, project: str, definitions: DefinitionService, page_request: PageRequest
    ) -> schemas.FeatureServicePage:
        page = await definitions.page("feature_service", project, page_request.cursor, page_request.limit)
        return schemas.FeatureServicePage(items=page.items, next_cursor=page.next_cursor)

    @post(
        "/",
        guards=EDIT,
        status_code=201,
        summary="Create a feature service",
        description="422 naming the field for an unknown feature view or feature.",
    )
    async def create_feature_service(
        self,
        project: str,
        data: schemas.FeatureServiceCreate,
        definitions: DefinitionService,
        db_session: AsyncSession,
    ) -> schemas.FeatureService:
        created: schemas.FeatureService = (await definitions.save(db_session, "feature_service", project, data))[0]
        return created

    @get("/{name:str}", guards=VIEW, summary="Get a feature service")
    async def get_feature_service(
        self, project: str, name: DefinitionName, definitions: DefinitionService
    ) -> schemas.FeatureService:
        found: schemas.FeatureService = await definitions.read("feature_service", project, name)
        return found

    @put(
        "/{name:str}",
        guards=EDIT,
        status_code=200,
        summary="Create or replace a feature service",
        description=_REPLACE,
        responses=_created(schemas.FeatureService),
    )
    async def replace_feature_service(
        self,
        project: str,
        name: DefinitionName,
        data: schemas.FeatureServiceCreate,
        definitions: DefinitionService,
        db_session: AsyncSession,
    ) -> Response[schemas.FeatureService]:
        return _answer(*await definitions.replace(db_session, "feature_service", project, name, data))

    @delete("/{name:str}", guards=EDIT, summary="Delete a feature service")
    async def delete_feature_service(
        self, project: str, name: DefinitionName, definitions: DefinitionService, db_session: AsyncSession
    ) -> None:
        await definitions.delete(db_session, "feature_service", project, name)


DEFINITION_CONTROLLERS = [EntityController, DataSourceController, FeatureViewController, FeatureServiceController]
