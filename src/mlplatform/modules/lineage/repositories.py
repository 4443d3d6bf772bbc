"""The lineage module's read SQL: bounded recursive traversal and event listing.

The traversal is one `WITH RECURSIVE` query per direction (PostgreSQL and SQLite): the walk starts at
the queried node and follows edges one hop per iteration up to `depth`. Readers that are not platform
admins only step onto nodes of projects they can read, so the walk stops at (and never reveals) the
nodes of other projects. `UNION` (not `UNION ALL`) keeps one row per (node, distance): a diamond in the
graph cannot multiply the rows, so the work is bounded by nodes x depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.modules.lineage.access import Visibility
from mlplatform.modules.lineage.models import LineageEdge, LineageNode, OpenLineageEventRow


def _visible(visibility: Visibility, project: Any) -> Any:
    if visibility.any_project:
        return project.is_not(None)
    return project.in_(visibility.projects)


def walk_statement(start_id: int, depth: int, *, upstream: bool, visibility: Visibility) -> Select[Any]:
    """(node id, distance) of every node within `depth` hops of `start_id` in one direction."""
    edges = LineageEdge.__table__
    nodes = LineageNode.__table__
    walk = select(literal(start_id, BigInteger()).label("node_id"), literal(0, Integer()).label("distance")).cte(
        "lineage_walk", recursive=True
    )
    near, far = (edges.c.target_id, edges.c.source_id) if upstream else (edges.c.source_id, edges.c.target_id)
    step = (
        select(far.label("node_id"), (walk.c.distance + 1).label("distance"))
        .select_from(walk.join(edges, near == walk.c.node_id))
        .where(walk.c.distance < depth)
    )
    if not visibility.everything:
        step = step.join(nodes, nodes.c.id == far).where(_visible(visibility, nodes.c.project))
    walk = walk.union(step)
    return (
        select(walk.c.node_id, func.min(walk.c.distance).label("distance"))
        .where(walk.c.node_id != start_id)
        .group_by(walk.c.node_id)
    )


async def walk(
    session: AsyncSession, start_id: int, depth: int, *, upstream: bool, visibility: Visibility, limit: int
) -> list[tuple[int, int]]:
    """Up to `limit` (node id, distance) pairs, nearest first."""
    statement = walk_statement(start_id, depth, upstream=upstream, visibility=visibility)
    statement = statement.order_by("distance", "node_id").limit(limit)
    return [(int(row[0]), int(row[1])) for row in (await session.execute(statement)).all()]


async def nodes_by_id(session: AsyncSession, ids: Sequence[int]) -> list[LineageNode]:
    if not ids:
        return []
    return list((await session.scalars(select(LineageNode).where(LineageNode.id.in_(ids)))).all())


async def edges_among(session: AsyncSession, ids: Sequence[int]) -> list[LineageEdge]:
    if len(ids) < 2:
        return []
    statement = (
        select(LineageEdge)
        .where(LineageEdge.source_id.in_(ids), LineageEdge.target_id.in_(ids))
        .order_by(LineageEdge.id)
    )
    return list((await session.scalars(statement)).all())


async def list_events(
    session: AsyncSession,
    *,
    visibility: Visibility,
    project: str | None,
    status: str | None,
    job_name: str | None,
    run_id: str | None,
    before_id: int | None,
    limit: int,
) -> list[OpenLineageEventRow]:
    """Newest first, keyset-paginated on id."""
    conditions: list[Any] = []
    if project is not None:
        conditions.append(OpenLineageEventRow.project == project)
    elif not visibility.everything:
        conditions.append(_visible(visibility, OpenLineageEventRow.project))
    if status is not None:
        conditions.append(OpenLineageEventRow.status == status)
    if job_name is not None:
        conditions.append(OpenLineageEventRow.job_name == job_name)
    if run_id is not None:
        conditions.append(OpenLineageEventRow.run_id == run_id)
    if before_id is not None:
        conditions.append(OpenLineageEventRow.id < before_id)
    statement = select(OpenLineageEventRow).where(*conditions).order_by(OpenLineageEventRow.id.desc()).limit(limit)
    return list((await session.scalars(statement)).all())
