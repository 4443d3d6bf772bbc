"""What other modules ask about feature view versions: the current fingerprint of each of a project's views,
and the training datasets (with the fingerprints recorded when each was built) named by id.

A view's version is `adapters.registry.view_version`: a fingerprint of its whole Feast definition (features
and their types, entities, source, TTL, tags, so expectations too), not of its metadata timestamps. It changes
with every `PUT` that changes the definition, and a training dataset records it per view at build time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.modules.features import repositories, schemas

if TYPE_CHECKING:
    from feast import FeatureStore

    from mlplatform.modules.features.runtime import FeaturesRuntime


def _versions(store: FeatureStore) -> dict[str, str]:
    """Blocking (reads the registry, imports Feast's adapters): call through `FeastGateway.run`."""
    from mlplatform.modules.features.adapters import registry as r

    return {view.name: r.view_version(view) for view in r.list_views(store)}


async def current_view_versions(runtime: FeaturesRuntime, project: str) -> dict[str, str]:
    """Feature view name → its current version fingerprint, read from the registry in a worker thread."""
    gateway = runtime.gateway
    return await gateway.run(lambda: _versions(gateway.store(project)))


async def datasets_by_id(session: AsyncSession, project: str, ids: Sequence[str]) -> list[schemas.Dataset]:
    """The project's training dataset records among `ids`, in the order given; ids that are not dataset ids of
    this project (data the platform did not build, another project's dataset, a deleted one) are skipped."""
    wanted: list[uuid.UUID] = []
    for value in ids:
        try:
            wanted.append(uuid.UUID(value))
        except ValueError:
            continue
    return await repositories.datasets_by_ids(session, project, wanted) if wanted else []
