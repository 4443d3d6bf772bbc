"""What a model version was trained from, as other modules ask it (the serving module's default feature service).

The graph links model version ← run ← training dataset ← feature service (the run names its dataset with
`mlplatform.training_dataset`, or its service with `mlplatform.feature_service`); the nearest feature
services upstream of the version, within the version's own project, are the ones its features came from.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.modules.lineage.access import Visibility
from mlplatform.modules.lineage.repositories import graph
from mlplatform.modules.lineage.vocabulary import NodeType, named_key

SEARCH_DEPTH = 4
"""Hops from the version: version ← run ← dataset ← service (3), one more for a run's declared service."""


async def training_feature_services(session: AsyncSession, *, project: str, model: str, version: int) -> list[str]:
    """Names of the project's feature services upstream of the model version, nearest first (none: unknown)."""
    rows = await graph.neighbourhood(
        session,
        NodeType.MODEL_VERSION.value,
        named_key(project, model, version),
        SEARCH_DEPTH,
        upstream=True,
        downstream=False,
        visibility=Visibility(everything=False, any_project=False, projects=(project,)),
        limit=500,
    )
    prefix = f"{project}/"
    found = sorted(
        (row.distance, row.key[len(prefix) :])
        for row in rows
        if row.row_kind != "edge" and row.type == NodeType.FEATURE_SERVICE.value and row.key.startswith(prefix)
    )
    return list(dict.fromkeys(name for _, name in found))
