"""The lineage module's part of a project's purge (`kernel/purge.py`).

Removed: the project's nodes (with every edge touching them), the edges its events recorded, nodes of no
project (external datasets) that only those edges connected, and its OpenLineage events. Events already sent
to an OpenLineage endpoint (Marquez) stay there: the platform cannot take them back.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, exists, or_, select

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.lineage.models import LineageEdge, LineageNode, OpenLineageEventRow

CHUNK = 1000
"""Ids per statement (drivers cap the number of bound parameters)."""


async def purge_project(platform: PlatformContext, project: str) -> Mapping[str, int]:
    async with platform.database.transaction() as session:
        project_nodes = select(LineageNode.id).where(LineageNode.project == project)
        owned = or_(
            LineageEdge.project == project,
            LineageEdge.source_id.in_(project_nodes),
            LineageEdge.target_id.in_(project_nodes),
        )
        ends = (await session.execute(select(LineageEdge.source_id, LineageEdge.target_id).where(owned))).all()
        edges = _count(await session.execute(delete(LineageEdge).where(owned)))
        nodes = _count(await session.execute(delete(LineageNode).where(LineageNode.project == project)))
        candidates = sorted({node for pair in ends for node in pair})
        linked = exists().where(or_(LineageEdge.source_id == LineageNode.id, LineageEdge.target_id == LineageNode.id))
        for start in range(0, len(candidates), CHUNK):
            chunk = candidates[start : start + CHUNK]
            orphans = delete(LineageNode).where(LineageNode.id.in_(chunk), LineageNode.project.is_(None), ~linked)
            nodes += _count(await session.execute(orphans))
        events = _count(
            await session.execute(delete(OpenLineageEventRow).where(OpenLineageEventRow.project == project))
        )
    return {"edges": edges, "nodes": nodes, "openlineage_events": events}


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
