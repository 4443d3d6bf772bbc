"""When replacing a definition (PUT) would break what uses it: 409, and nothing is applied.

Feast copies a definition into its users: a feature view embeds its data source, a push source its
batch source, a feature service the feature lists of its views. Replacing the original does not
update those copies, so the platform refuses the changes whose copies would then disagree:

- an entity's join key or value type, while feature views use it;
- what a data source reads (kind, location, timestamp columns, field mapping), while feature views or
  push sources use it (description, tags and owner may change);
- a feature view dropping a feature that a feature service serves.

Blocking (Feast registry reads): runs in a worker thread.
"""

from __future__ import annotations

import msgspec
from feast import Entity as FeastEntity
from feast import FeatureStore, PushSource
from feast import FeatureView as FeastView
from feast.data_source import DataSource as FeastSource

from mlplatform.kernel.errors import Conflict
from mlplatform.modules.features.adapters.offline import view_batch_source
from mlplatform.modules.features.adapters.registry import (
    list_services,
    list_sources,
    list_views,
    source_out,
    view_source_name,
)


def check_entity(store: FeatureStore, old: FeastEntity, new: FeastEntity) -> None:
    if (old.join_key, old.value_type) == (new.join_key, new.value_type):
        return
    users = [v.name for v in list_views(store) if old.name in v.entities]
    if users:
        raise Conflict(
            f"entity {old.name!r} is used by feature view(s) {', '.join(users)}: its join_key and value_type "
            "cannot change while they use it"
        )


def check_source(store: FeatureStore, old: FeastSource, new: FeastSource) -> None:
    if _what_it_reads(store, old) == _what_it_reads(store, new):
        return
    users = [v.name for v in list_views(store) if old.name in {view_batch_source(v).name, view_source_name(v)}]
    users += [
        s.name
        for s in list_sources(store)
        if isinstance(s, PushSource) and s.batch_source is not None and s.batch_source.name == old.name
    ]
    if users:
        raise Conflict(
            f"data source {old.name!r} is used by {', '.join(users)}: only its description, tags and owner can "
            "change while they use it"
        )


def _what_it_reads(store: FeatureStore, source: FeastSource) -> bytes:
    described = msgspec.structs.replace(
        source_out(store, source), description="", tags={}, owner="", created_at=None, updated_at=None
    )
    return msgspec.json.encode(described)


def check_view(store: FeatureStore, old: FeastView, new: FeastView) -> None:
    kept = {f.name for f in new.features}
    for service in list_services(store):
        for projection in service.feature_view_projections:
            if projection.name != old.name:
                continue
            dropped = [f.name for f in projection.features if f.name not in kept]
            if dropped:
                raise Conflict(
                    f"feature service {service.name!r} serves {old.name}:{dropped[0]}, which the new definition "
                    "drops: change or delete the service first"
                )
