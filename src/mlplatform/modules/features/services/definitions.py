"""Definitions CRUD: validated against Feast's registry, applied to it, announced as events.

Order inside a request: validate (thread) -> write the event to the outbox (request transaction) ->
apply to Feast (thread). A failed apply raises, so the request's transaction and its event roll
back; an invalid definition never reaches the registry.

Every kind (entity, data_source, feature_view, feature_service) goes through the same steps; what
differs per kind is in `adapters/kinds.py`. That module imports Feast, so it is only ever imported in a
worker thread: an import on the event loop would block every request (and a graceful shutdown) behind
the import lock while Feast is still loading after start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import Invalid
from mlplatform.kernel.events import publish
from mlplatform.kernel.pagination import Page, check_limit, decode_cursor, make_page
from mlplatform.modules.features import events
from mlplatform.modules.features.connections.resolved import run_with
from mlplatform.modules.features.connections.service import granted_connections
from mlplatform.modules.features.runtime import FeaturesRuntime

if TYPE_CHECKING:
    from types import ModuleType

    from mlplatform.modules.features.adapters.kinds import Kind

T = TypeVar("T")
SORT = "name"


def _page(items: Sequence[T], name: Callable[[T], str], cursor: str | None, limit: int | None) -> Page[T]:
    """A page of the registry's definitions by name (Feast lists them all: paged in memory)."""
    size = check_limit(limit)
    after = decode_cursor(cursor, sort=SORT, arity=1)[0] if cursor else None
    remaining = [item for item in items if after is None or name(item) > after]
    return make_page(remaining, limit=size, sort=SORT, key=lambda item: [name(item)])


def _kinds() -> ModuleType:
    """Blocking (imports Feast the first time): call through `FeastGateway.run`."""
    from mlplatform.modules.features.adapters import kinds

    return kinds


class DefinitionService:
    def __init__(self, runtime: FeaturesRuntime) -> None:
        self.runtime = runtime
        self.gateway = runtime.gateway

    async def _kind(self, name: str) -> Kind:
        kind: Kind = (await self.gateway.run(_kinds)).KINDS[name]
        return kind

    async def page(self, kind: str, project: str, cursor: str | None, limit: int | None) -> Page[Any]:
        """One page of definitions by name."""
        spec = await self._kind(kind)
        items = await self.gateway.run(lambda: spec.listing(self.gateway.store(project)))
        return _page(items, lambda item: str(item.name), cursor, limit)

    async def read(self, kind: str, project: str, name: str) -> Any:
        spec = await self._kind(kind)
        return await self.gateway.run(lambda: spec.read(self.gateway.store(project), name))

    async def save(
        self, session: AsyncSession, kind: str, project: str, data: Any, *, replace: bool = False
    ) -> tuple[Any, bool]:
        """Create (`replace=False`: an existing name is a 422) or create-or-replace a definition.
        Returns its wire form and whether it was created."""
        kinds = await self.gateway.run(_kinds)
        spec: Kind = kinds.KINDS[kind]
        options = kinds.BuildOptions(replace=replace)
        store = await self.gateway.run(self.gateway.store, project)
        granted = await granted_connections(session, self.runtime.platform, project)
        built = await self.gateway.run(run_with, project, granted, spec.build, store, data, options)
        await publish(session, await self.gateway.run(spec.announce, store, project, built.obj))
        await self.gateway.run(run_with, project, granted, kinds.apply, store, built.obj)
        await self.runtime.metadata.invalidate(project)
        return await self.gateway.run(spec.read, store, data.name), built.created

    async def replace(self, session: AsyncSession, kind: str, project: str, name: str, data: Any) -> tuple[Any, bool]:
        """PUT by name: the body's `name` must be the one in the path."""
        if data.name != name:
            raise Invalid(f"name: {data.name!r} does not match the name in the path ({name!r})", field="name")
        return await self.save(session, kind, project, data, replace=True)

    async def delete(self, session: AsyncSession, kind: str, project: str, name: str) -> None:
        spec = await self._kind(kind)
        await publish(
            session,
            events.FeatureDefinitionDeleted(
                aggregate_id=f"{project}/{kind}/{name}", project=project, kind=kind, name=name
            ),
        )
        await self.gateway.run(lambda: spec.delete(self.gateway.store(project), name))
        await self.runtime.metadata.invalidate(project)
