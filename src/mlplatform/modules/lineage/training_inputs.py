"""What a model version was trained from, as other modules ask it (the serving module's default feature service,
the catalogue's skew guard).

The graph links model version ← run ← training dataset ← feature service (the run names its dataset with
`mlplatform.training_dataset`, or its service with `mlplatform.feature_service`); the nearest feature
services upstream of the version, within the version's own project, are the ones its features came from.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.modules.lineage.access import Visibility
from mlplatform.modules.lineage.repositories import graph
from mlplatform.modules.lineage.vocabulary import EdgeKind, NodeType, named_key

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


async def training_datasets(session: AsyncSession, *, project: str, model: str, version: int) -> list[str]:
    """Keys of the training datasets the model version's run(s) trained on (dataset ids the features API
    returned, or, for data the platform did not build, the reference the run gave), oldest link first; none
    when lineage knows no run or no training dataset of the version. Evaluation data (`read` edges) is not
    training data and is left out."""
    node = await graph.find_node(session, NodeType.MODEL_VERSION, named_key(project, model, version))
    if node is None:
        return []
    found: list[str] = []
    for run in await graph.neighbours(
        session, node.id, kind=EdgeKind.REGISTERED_AS, upstream=True, node_type=NodeType.EXPERIMENT_RUN
    ):
        datasets = await graph.neighbours(
            session, run.id, kind=EdgeKind.TRAINED_ON, upstream=True, node_type=NodeType.TRAINING_DATASET
        )
        found.extend(dataset.key for dataset in datasets if dataset.project in (None, project))
    return list(dict.fromkeys(found))
