"""Removing a deleted project's part of the graph and its stored OpenLineage events (`purge.py`)."""

from __future__ import annotations

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.modules.lineage.models import LineageEdge, LineageNode, OpenLineageEventRow

CHUNK = 1000
"""Ids per statement (drivers cap the number of bound parameters)."""


async def delete_project_lineage(session: AsyncSession, project: str) -> dict[str, int]:
    """The project's nodes (with every edge touching them), the edges its events recorded, nodes of no
    project that only those edges connected, and its OpenLineage events; counts of each."""
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
    events = _count(await session.execute(delete(OpenLineageEventRow).where(OpenLineageEventRow.project == project)))
    return {"edges": edges, "nodes": nodes, "openlineage_events": events}


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
