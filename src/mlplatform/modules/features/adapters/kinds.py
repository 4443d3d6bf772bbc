"""The four kinds of definitions, as data: how each is listed, read, built, announced and deleted.

`services.definitions.DefinitionService` runs the same steps for every kind; what differs lives here.
Everything is blocking (Feast) and runs in the module's worker threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from feast import FeatureStore

from mlplatform.kernel.events import DomainEvent
from mlplatform.modules.features import events
from mlplatform.modules.features.adapters import definitions as d
from mlplatform.modules.features.adapters import registry as r
from mlplatform.modules.features.adapters.definitions import apply

__all__ = ["KINDS", "BuildOptions", "Kind", "apply"]


@dataclass(frozen=True)
class BuildOptions:
    replace: bool
    """PUT: an existing definition of the same name is replaced (else it is a 422 on `name`)."""


@dataclass(frozen=True)
class Kind:
    name: str
    """As in `FeatureDefinitionDeleted.kind`: entity, data_source, feature_view, feature_service."""
    listing: Callable[[FeatureStore], list[Any]]
    """The wire form of every definition of the kind, sorted by name."""
    read: Callable[[FeatureStore, str], Any]
    """The wire form of one definition (`NotFound` when missing)."""
    build: Callable[[FeatureStore, Any, BuildOptions], d.Built]
    """Validate a request body into a Feast object (422 naming the field; 409 for a breaking replace)."""
    announce: Callable[[FeatureStore, str, Any], DomainEvent]
    """The event of applying a built object in a project."""
    delete: Callable[[FeatureStore, str], None]
    """Remove it (409 while something uses it)."""


def _announce_source(store: FeatureStore, project: str, source: Any) -> DomainEvent:
    described = r.source_out(store, source)
    return events.DataSourceApplied(
        aggregate_id=f"{project}/{described.name}",
        project=project,
        name=described.name,
        kind=described.kind,
        uri=described.uri,
        table=described.table,
        batch_source=described.batch_source,
        connection=described.connection,
    )


def _announce_view(store: FeatureStore, project: str, view: Any) -> DomainEvent:
    return events.FeatureViewApplied(
        aggregate_id=f"{project}/{view.name}",
        project=project,
        name=view.name,
        version=r.view_version(view),
        entities=list(view.entities),
        source=r.view_source_name(view),
        features=[f.name for f in view.features],
    )


def _announce_service(store: FeatureStore, project: str, service: Any) -> DomainEvent:
    described = r.service_out(service)
    return events.FeatureServiceApplied(
        aggregate_id=f"{project}/{described.name}",
        project=project,
        name=described.name,
        features=described.features,
        feature_views=described.feature_views,
    )


KINDS = {
    "entity": Kind(
        name="entity",
        listing=lambda store: [r.entity_out(e) for e in r.list_entities(store)],
        read=lambda store, name: r.entity_out(r.get_entity(store, name)),
        build=lambda store, data, options: d.build_entity(store, data, replace=options.replace),
        announce=lambda store, project, entity: events.EntityApplied(
            aggregate_id=f"{project}/{entity.name}", project=project, name=entity.name, join_key=entity.join_key
        ),
        delete=d.delete_entity,
    ),
    "data_source": Kind(
        name="data_source",
        listing=lambda store: [r.source_out(store, s) for s in r.list_sources(store)],
        read=lambda store, name: r.source_out(store, r.get_source(store, name)),
        build=lambda store, data, options: d.build_source(store, data, replace=options.replace),
        announce=_announce_source,
        delete=d.delete_source,
    ),
    "feature_view": Kind(
        name="feature_view",
        listing=lambda store: [r.view_out(v) for v in r.list_views(store)],
        read=lambda store, name: r.view_out(r.get_view(store, name)),
        build=lambda store, data, options: d.build_view(store, data, replace=options.replace),
        announce=_announce_view,
        delete=d.delete_view,
    ),
    "feature_service": Kind(
        name="feature_service",
        listing=lambda store: [r.service_out(s) for s in r.list_services(store)],
        read=lambda store, name: r.service_out(r.get_service(store, name)),
        build=lambda store, data, options: d.build_service(store, data, replace=options.replace),
        announce=_announce_service,
        delete=d.delete_service,
    ),
}
