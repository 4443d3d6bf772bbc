"""Entities, data sources, feature views and feature services as JSON over REST."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.modules.features import schemas
from mlplatform.modules.features.runtime import FeaturesRuntime
from mlplatform.modules.features.services.definitions import DefinitionService
from mlplatform.modules.gateway.api import Role, requires_role

BASE = "/api/v1/projects/{project:str}/features"
Limit = Annotated[int | None, Parameter(ge=1, le=500)]
VIEW = [requires_role(Role.VIEWER)]
EDIT = [requires_role(Role.CONTRIBUTOR)]


def _service(features: FeaturesRuntime) -> DefinitionService:
    return DefinitionService(features)


class EntityController(Controller):
    path = f"{BASE}/entities"
    tags = ["features"]

    @get("/", guards=VIEW, summary="List entities")
    async def list_entities(
        self, project: str, features: FeaturesRuntime, cursor: str | None = None, limit: Limit = None
    ) -> schemas.EntityPage:
        return await _service(features).list_entities(project, cursor, limit)

    @post("/", guards=EDIT, status_code=201, summary="Create an entity")
    async def create_entity(
        self, project: str, data: schemas.EntityCreate, features: FeaturesRuntime, db_session: AsyncSession
    ) -> schemas.Entity:
        """422 naming the field for a duplicate name."""
        return await _service(features).create_entity(db_session, project, data)

    @get("/{name:str}", guards=VIEW, summary="Get an entity")
    async def get_entity(self, project: str, name: str, features: FeaturesRuntime) -> schemas.Entity:
        return await _service(features).get_entity(project, name)

    @delete("/{name:str}", guards=EDIT, summary="Delete an entity (409 while a feature view uses it)")
    async def delete_entity(self, project: str, name: str, features: FeaturesRuntime, db_session: AsyncSession) -> None:
        await _service(features).delete_entity(db_session, project, name)


class DataSourceController(Controller):
    path = f"{BASE}/data-sources"
    tags = ["features"]

    @get("/", guards=VIEW, summary="List data sources")
    async def list_data_sources(
        self, project: str, features: FeaturesRuntime, cursor: str | None = None, limit: Limit = None
    ) -> schemas.DataSourcePage:
        return await _service(features).list_sources(project, cursor, limit)

    @post("/", guards=EDIT, status_code=201, summary="Create a data source (parquet, postgres or push)")
    async def create_data_source(
        self, project: str, data: schemas.DataSourceCreate, features: FeaturesRuntime, db_session: AsyncSession
    ) -> schemas.DataSource:
        """When data already exists, its columns are checked (timestamp and mapped columns must exist)."""
        return await _service(features).create_source(db_session, project, data)

    @get("/{name:str}", guards=VIEW, summary="Get a data source")
    async def get_data_source(self, project: str, name: str, features: FeaturesRuntime) -> schemas.DataSource:
        return await _service(features).get_source(project, name)

    @delete("/{name:str}", guards=EDIT, summary="Delete a data source (409 while something uses it)")
    async def delete_data_source(
        self, project: str, name: str, features: FeaturesRuntime, db_session: AsyncSession
    ) -> None:
        await _service(features).delete_source(db_session, project, name)


class FeatureViewController(Controller):
    path = f"{BASE}/feature-views"
    tags = ["features"]

    @get("/", guards=VIEW, summary="List feature views")
    async def list_feature_views(
        self, project: str, features: FeaturesRuntime, cursor: str | None = None, limit: Limit = None
    ) -> schemas.FeatureViewPage:
        return await _service(features).list_views(project, cursor, limit)

    @post("/", guards=EDIT, status_code=201, summary="Create a feature view")
    async def create_feature_view(
        self, project: str, data: schemas.FeatureViewCreate, features: FeaturesRuntime, db_session: AsyncSession
    ) -> schemas.FeatureView:
        """422 naming the field for an unknown entity or source, a duplicate name, or a type that does not
        match the source's data; the registry is left unchanged."""
        return await _service(features).create_view(db_session, project, data)

    @get("/{name:str}", guards=VIEW, summary="Get a feature view")
    async def get_feature_view(self, project: str, name: str, features: FeaturesRuntime) -> schemas.FeatureView:
        return await _service(features).get_view(project, name)

    @delete("/{name:str}", guards=EDIT, summary="Delete a feature view and its online data")
    async def delete_feature_view(
        self, project: str, name: str, features: FeaturesRuntime, db_session: AsyncSession
    ) -> None:
        await _service(features).delete_view(db_session, project, name)


class FeatureServiceController(Controller):
    path = f"{BASE}/feature-services"
    tags = ["features"]

    @get("/", guards=VIEW, summary="List feature services")
    async def list_feature_services(
        self, project: str, features: FeaturesRuntime, cursor: str | None = None, limit: Limit = None
    ) -> schemas.FeatureServicePage:
        return await _service(features).list_services(project, cursor, limit)

    @post("/", guards=EDIT, status_code=201, summary="Create a feature service")
    async def create_feature_service(
        self, project: str, data: schemas.FeatureServiceCreate, features: FeaturesRuntime, db_session: AsyncSession
    ) -> schemas.FeatureService:
        return await _service(features).create_service(db_session, project, data)

    @get("/{name:str}", guards=VIEW, summary="Get a feature service")
    async def get_feature_service(self, project: str, name: str, features: FeaturesRuntime) -> schemas.FeatureService:
        return await _service(features).get_service(project, name)

    @delete("/{name:str}", guards=EDIT, summary="Delete a feature service")
    async def delete_feature_service(
        self, project: str, name: str, features: FeaturesRuntime, db_session: AsyncSession
    ) -> None:
        await _service(features).delete_service(db_session, project, name)


DEFINITION_CONTROLLERS = [EntityController, DataSourceController, FeatureViewController, FeatureServiceController]
