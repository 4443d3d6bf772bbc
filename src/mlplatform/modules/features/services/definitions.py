"""Definitions CRUD: validated against Feast's registry, applied to it, announced as events.

Order inside a request: validate (thread) -> write the event to the outbox (request transaction) ->
apply to Feast (thread). A failed apply raises, so the request's transaction and its event roll
back; an invalid definition never reaches the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.events import publish
from mlplatform.kernel.pagination import check_limit, decode_cursor, encode_cursor
from mlplatform.modules.features import events, schemas
from mlplatform.modules.features.runtime import FeaturesRuntime

T = TypeVar("T")
SORT = "name"


def _page(
    items: Sequence[T], name: Callable[[T], str], cursor: str | None, limit: int | None
) -> tuple[list[T], str | None]:
    size = check_limit(limit)
    after = decode_cursor(cursor, sort=SORT, arity=1)[0] if cursor else None
    remaining = [item for item in items if after is None or name(item) > after]
    page = remaining[:size]
    next_cursor = encode_cursor(SORT, [name(page[-1])]) if len(remaining) > size and page else None
    return page, next_cursor


class DefinitionService:
    def __init__(self, runtime: FeaturesRuntime) -> None:
        self.runtime = runtime
        self.gateway = runtime.gateway

    def _has_postgres(self) -> bool:
        return self.runtime.feast.postgres_url is not None

    async def _changed(self, project: str) -> None:
        await self.runtime.metadata.invalidate(project)

    # ------------------------------------------------------------ entities

    async def list_entities(self, project: str, cursor: str | None, limit: int | None) -> schemas.EntityPage:
        from mlplatform.modules.features.adapters import registry as r

        def work() -> list[schemas.Entity]:
            return [r.entity_out(e) for e in r.list_entities(self.gateway.store(project))]

        items, next_cursor = _page(await self.gateway.run(work), lambda e: e.name, cursor, limit)
        return schemas.EntityPage(items=items, next_cursor=next_cursor)

    async def get_entity(self, project: str, name: str) -> schemas.Entity:
        from mlplatform.modules.features.adapters import registry as r

        return await self.gateway.run(lambda: r.entity_out(r.get_entity(self.gateway.store(project), name)))

    async def create_entity(self, session: AsyncSession, project: str, data: schemas.EntityCreate) -> schemas.Entity:
        from mlplatform.modules.features.adapters import definitions as d
        from mlplatform.modules.features.adapters import registry as r

        store = await self.gateway.run(self.gateway.store, project)
        entity = await self.gateway.run(d.build_entity, store, data)
        await publish(
            session,
            events.EntityApplied(
                aggregate_id=f"{project}/{data.name}", project=project, name=data.name, join_key=entity.join_key
            ),
        )
        await self.gateway.run(d.apply, store, entity)
        await self._changed(project)
        return await self.gateway.run(lambda: r.entity_out(r.get_entity(store, data.name)))

    async def delete_entity(self, session: AsyncSession, project: str, name: str) -> None:
        from mlplatform.modules.features.adapters import definitions as d

        await self._deleted(session, project, "entity", name)
        await self.gateway.run(lambda: d.delete_entity(self.gateway.store(project), name))
        await self._changed(project)

    async def _deleted(self, session: AsyncSession, project: str, kind: str, name: str) -> None:
        await publish(
            session,
            events.FeatureDefinitionDeleted(
                aggregate_id=f"{project}/{kind}/{name}", project=project, kind=kind, name=name
            ),
        )

    # ------------------------------------------------------------ data sources

    async def list_sources(self, project: str, cursor: str | None, limit: int | None) -> schemas.DataSourcePage:
        from mlplatform.modules.features.adapters import registry as r

        def work() -> list[schemas.DataSource]:
            store = self.gateway.store(project)
            return [r.source_out(store, s) for s in r.list_sources(store)]

        items, next_cursor = _page(await self.gateway.run(work), lambda s: s.name, cursor, limit)
        return schemas.DataSourcePage(items=items, next_cursor=next_cursor)

    async def get_source(self, project: str, name: str) -> schemas.DataSource:
        from mlplatform.modules.features.adapters import registry as r

        def work() -> schemas.DataSource:
            store = self.gateway.store(project)
            return r.source_out(store, r.get_source(store, name))

        return await self.gateway.run(work)

    async def create_source(
        self, session: AsyncSession, project: str, data: schemas.DataSourceCreate
    ) -> schemas.DataSource:
        from mlplatform.modules.features.adapters import definitions as d
        from mlplatform.modules.features.adapters import registry as r

        store = await self.gateway.run(self.gateway.store, project)
        source = await self.gateway.run(lambda: d.build_source(store, data, has_postgres=self._has_postgres()))
        described = await self.gateway.run(r.source_out, store, source)
        await publish(
            session,
            events.DataSourceApplied(
                aggregate_id=f"{project}/{data.name}",
                project=project,
                name=data.name,
                kind=data.kind,
                uri=described.uri,
                table=described.table,
                batch_source=described.batch_source,
            ),
        )
        await self.gateway.run(d.apply, store, source)
        await self._changed(project)
        return await self.get_source(project, data.name)

    async def delete_source(self, session: AsyncSession, project: str, name: str) -> None:
        from mlplatform.modules.features.adapters import definitions as d

        await self._deleted(session, project, "data_source", name)
        await self.gateway.run(lambda: d.delete_source(self.gateway.store(project), name))
        await self._changed(project)

    # ------------------------------------------------------------ feature views

    async def list_views(self, project: str, cursor: str | None, limit: int | None) -> schemas.FeatureViewPage:
        from mlplatform.modules.features.adapters import registry as r

        def work() -> list[schemas.FeatureView]:
            return [r.view_out(v) for v in r.list_views(self.gateway.store(project))]

        items, next_cursor = _page(await self.gateway.run(work), lambda v: v.name, cursor, limit)
        return schemas.FeatureViewPage(items=items, next_cursor=next_cursor)

    async def get_view(self, project: str, name: str) -> schemas.FeatureView:
        from mlplatform.modules.features.adapters import registry as r

        return await self.gateway.run(lambda: r.view_out(r.get_view(self.gateway.store(project), name)))

    async def create_view(
        self, session: AsyncSession, project: str, data: schemas.FeatureViewCreate
    ) -> schemas.FeatureView:
        from mlplatform.modules.features.adapters import definitions as d
        from mlplatform.modules.features.adapters import registry as r

        store = await self.gateway.run(self.gateway.store, project)
        view = await self.gateway.run(d.build_view, store, data)
        await publish(
            session,
            events.FeatureViewApplied(
                aggregate_id=f"{project}/{data.name}",
                project=project,
                name=data.name,
                version=await self.gateway.run(r.view_version, view),
                entities=list(data.entities),
                source=data.source,
                features=[f.name for f in data.features],
            ),
        )
        await self.gateway.run(d.apply, store, view)
        await self._changed(project)
        return await self.get_view(project, data.name)

    async def delete_view(self, session: AsyncSession, project: str, name: str) -> None:
        from mlplatform.modules.features.adapters import definitions as d

        await self._deleted(session, project, "feature_view", name)
        await self.gateway.run(lambda: d.delete_view(self.gateway.store(project), name))
        await self._changed(project)

    # ------------------------------------------------------------ feature services

    async def list_services(self, project: str, cursor: str | None, limit: int | None) -> schemas.FeatureServicePage:
        from mlplatform.modules.features.adapters import registry as r

        def work() -> list[schemas.FeatureService]:
            return [r.service_out(s) for s in r.list_services(self.gateway.store(project))]

        items, next_cursor = _page(await self.gateway.run(work), lambda s: s.name, cursor, limit)
        return schemas.FeatureServicePage(items=items, next_cursor=next_cursor)

    async def get_service(self, project: str, name: str) -> schemas.FeatureService:
        from mlplatform.modules.features.adapters import registry as r

        return await self.gateway.run(lambda: r.service_out(r.get_service(self.gateway.store(project), name)))

    async def create_service(
        self, session: AsyncSession, project: str, data: schemas.FeatureServiceCreate
    ) -> schemas.FeatureService:
        from mlplatform.modules.features.adapters import definitions as d
        from mlplatform.modules.features.adapters import registry as r

        store = await self.gateway.run(self.gateway.store, project)
        service = await self.gateway.run(d.build_service, store, data)
        described = await self.gateway.run(r.service_out, service)
        await publish(
            session,
            events.FeatureServiceApplied(
                aggregate_id=f"{project}/{data.name}",
                project=project,
                name=data.name,
                features=described.features,
                feature_views=described.feature_views,
            ),
        )
        await self.gateway.run(d.apply, store, service)
        await self._changed(project)
        return await self.get_service(project, data.name)

    async def delete_service(self, session: AsyncSession, project: str, name: str) -> None:
        from mlplatform.modules.features.adapters import definitions as d

        await self._deleted(session, project, "feature_service", name)
        await self.gateway.run(lambda: d.delete_service(self.gateway.store(project), name))
        await self._changed(project)


def definitions(runtime: FeaturesRuntime) -> DefinitionService:
    return DefinitionService(runtime)
