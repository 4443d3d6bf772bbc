"""Entities, data sources, feature views and feature services as JSON over REST.

The four kinds have the same routes — list, create (POST), get, create-or-replace (PUT by name),
delete — so `definition_router` builds them from a `Resource`: one set of handlers, with each kind's
body and response types, handler names (hence OpenAPI operation ids such as `features_list_entities`,
`features_replace_feature_view`) and documentation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Response, Router, delete, get, post, put
from litestar.openapi.datastructures import ResponseSpec
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


@dataclass(frozen=True)
class Resource:
    kind: str
    """The service's name for the kind, singular in handler names (`create_feature_view`)."""
    many: str
    """Plural in handler names (`list_feature_views`) and, with dashes, the path (`feature-views`)."""
    body: type[Any]
    out: type[Any]
    page: type[Any]
    create_doc: str
    replace_doc: str
    delete_summary: str

    @property
    def path(self) -> str:
        return self.many.replace("_", "-")

    @property
    def label(self) -> str:
        """`an entity`, `a feature view`: for summaries."""
        words = self.kind.replace("_", " ")
        return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"


def _as(name: str, doc: str | None, **types: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Name a generated handler (its operation id) and give it the kind's types (Litestar reads them)."""

    def rename(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = doc
        fn.__annotations__ = {**fn.__annotations__, **types}
        return fn

    return rename


def definition_router(res: Resource) -> Router:
    @_as(f"list_{res.many}", None, **{"return": res.page})
    async def listing(
        project: str, features_runtime: FeaturesRuntime, cursor: str | None = None, limit: Limit = None
    ) -> Any:
        items, next_cursor = await DefinitionService(features_runtime).page(res.kind, project, cursor, limit)
        return res.page(items=items, next_cursor=next_cursor)

    @_as(f"create_{res.kind}", res.create_doc, data=res.body, **{"return": res.out})
    async def create(project: str, data: Any, features_runtime: FeaturesRuntime, db_session: AsyncSession) -> Any:
        created, _ = await DefinitionService(features_runtime).save(db_session, res.kind, project, data)
        return created

    @_as(f"get_{res.kind}", None, **{"return": res.out})
    async def read(project: str, name: str, features_runtime: FeaturesRuntime) -> Any:
        return await DefinitionService(features_runtime).read(res.kind, project, name)

    answer = Response[res.out]  # type: ignore[name-defined]  # a runtime type: the kind's response schema

    @_as(f"replace_{res.kind}", res.replace_doc, data=res.body, **{"return": answer})
    async def replace(
        project: str, name: str, data: Any, features_runtime: FeaturesRuntime, db_session: AsyncSession
    ) -> Any:
        saved, created = await DefinitionService(features_runtime).replace(db_session, res.kind, project, name, data)
        return Response(saved, status_code=201 if created else 200)

    @_as(f"delete_{res.kind}", None)
    async def remove(project: str, name: str, features_runtime: FeaturesRuntime, db_session: AsyncSession) -> None:
        await DefinitionService(features_runtime).delete(db_session, res.kind, project, name)

    created = ResponseSpec(
        data_container=res.out, description="Created (no definition had this name)", generate_examples=False
    )
    return Router(
        path=f"{BASE}/{res.path}",
        tags=["features"],
        route_handlers=[
            get("/", guards=VIEW, summary=f"List {res.many.replace('_', ' ')}")(listing),
            post("/", guards=EDIT, status_code=201, summary=f"Create {res.label}")(create),
            get("/{name:str}", guards=VIEW, summary=f"Get {res.label}")(read),
            put(
                "/{name:str}",
                guards=EDIT,
                status_code=200,
                summary=f"Create or replace {res.label}",
                responses={201: created},
            )(replace),
            delete("/{name:str}", guards=EDIT, summary=res.delete_summary)(remove),
        ],
    )


_REPLACE = (
    "Create-or-replace by name: the body's `name` must be the one in the path. 201 when it was created, 200 "
    "when it replaced the existing definition; the same checks as creating it (422 naming the field), the "
    "same event."
)

RESOURCES = [
    Resource(
        kind="entity",
        many="entities",
        body=schemas.EntityCreate,
        out=schemas.Entity,
        page=schemas.EntityPage,
        create_doc="422 naming the field for a duplicate name.",
        replace_doc=f"{_REPLACE} 409 when feature views use the entity and its join key or value type changes.",
        delete_summary="Delete an entity (409 while a feature view uses it)",
    ),
    Resource(
        kind="data_source",
        many="data_sources",
        body=schemas.DataSourceCreate,
        out=schemas.DataSource,
        page=schemas.DataSourcePage,
        create_doc=(
            "Kinds: parquet, postgres or push. When data already exists, its columns are checked (timestamp and "
            "mapped columns must exist)."
        ),
        replace_doc=(
            f"{_REPLACE} 409 when feature views or push sources use the source and more than its description, "
            "tags or owner changes (they keep a copy of it)."
        ),
        delete_summary="Delete a data source (409 while something uses it)",
    ),
    Resource(
        kind="feature_view",
        many="feature_views",
        body=schemas.FeatureViewCreate,
        out=schemas.FeatureView,
        page=schemas.FeatureViewPage,
        create_doc=(
            "422 naming the field for an unknown entity or source, a duplicate name, or a type that does not "
            "match the source's data; the registry is left unchanged."
        ),
        replace_doc=(
            f"{_REPLACE} The view's `version` changes with its definition; rows already in the online store stay. "
            "409 when a feature service serves a feature the new definition drops."
        ),
        delete_summary="Delete a feature view and its online data",
    ),
    Resource(
        kind="feature_service",
        many="feature_services",
        body=schemas.FeatureServiceCreate,
        out=schemas.FeatureService,
        page=schemas.FeatureServicePage,
        create_doc="422 naming the field for an unknown feature view or feature.",
        replace_doc=_REPLACE,
        delete_summary="Delete a feature service",
    ),
]

DEFINITION_CONTROLLERS = [definition_router(resource) for resource in RESOURCES]
