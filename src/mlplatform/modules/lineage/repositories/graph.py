"""Reading the graph: bounded recursive traversal, a node by key or alias, a node's direct neighbours.

A graph query is one statement (PostgreSQL and SQLite), so a request costs one round trip besides
its transaction's BEGIN and COMMIT: it finds the queried node (by key, else alias), walks from it with
one `WITH RECURSIVE` per direction (one hop per iteration, up to `depth`; nearest `limit` nodes per
direction), and returns the rows of the root and the reached nodes (`row_kind` `node`, with
`relation` and `distance`) followed by the edges among them (`row_kind` `edge`).

Readers that are not platform admins only step onto nodes of projects they can read, so the walk
stops at (and never reveals) the nodes of other projects; an unreadable root starts no walk. `UNION`
(not `UNION ALL`) keeps one row per (node, distance): a diamond in the graph cannot multiply the
rows, so the work is bounded by nodes x depth. The statement is built once per shape (directions,
kind of visibility) and cached; everything else is a bound parameter, so PostgreSQL reuses one
prepared statement and plan per shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.modules.lineage.access import Visibility
from mlplatform.modules.lineage.models import LineageEdge, LineageNode
from mlplatform.modules.lineage.vocabulary import EdgeKind, NodeType

NODE_COLUMNS = ("id", "type", "key", "alias", "project", "name", "attributes", "placeholder", "first_seen", "last_seen")
EDGE_COLUMNS = ("source_id", "target_id", "kind", "created_at")


def _visible_param(any_project: bool, project: Any) -> Any:
    """The project filter with the reader's projects as one expanding parameter (`projects`)."""
    if any_project:
        return project.is_not(None)
    return project.in_(bindparam("projects", expanding=True))


@cache
def neighbourhood_statement(*, upstream: bool, downstream: bool, everything: bool, any_project: bool) -> CompoundSelect:
    """Rows of the root and the nodes reached from it (with `relation` and `distance`), then of the edges
    among them; `row_kind` tells them apart, the other side's columns are null.

    Parameters: `root_type`, `root_key`, `depth`, `limit` (per direction), and `projects` for readers
    without `everything` or `any_project`."""
    nodes = LineageNode.__table__
    edges = LineageEdge.__table__
    key = bindparam("root_key", type_=String())
    root = (
        select(nodes.c.id, nodes.c.project)
        .where(nodes.c.type == bindparam("root_type", type_=String()), (nodes.c.key == key) | (nodes.c.alias == key))
        .order_by((nodes.c.key == key).desc(), nodes.c.id)
        .limit(1)
        .cte("lineage_root")
    )
    parts: list[Select[Any]] = [
        select(
            root.c.id.label("node_id"),
            literal("root", String()).label("relation"),
            literal(0, Integer()).label("distance"),
        )
    ]
    for side, wanted in (("upstream", upstream), ("downstream", downstream)):
        if not wanted:
            continue
        start = select(root.c.id.label("node_id"), literal(0, Integer()).label("distance"))
        if not everything:
            start = start.where(_visible_param(any_project, root.c.project))
        walk = start.cte(f"lineage_{side}", recursive=True)
        near, far = (
            (edges.c.target_id, edges.c.source_id) if side == "upstream" else (edges.c.source_id, edges.c.target_id)
        )
        step = (
            select(far.label("node_id"), (walk.c.distance + 1).label("distance"))
            .select_from(walk.join(edges, near == walk.c.node_id))
            .where(walk.c.distance < bindparam("depth", type_=Integer()))
        )
        if not everything:
            step = step.join(nodes, nodes.c.id == far).where(_visible_param(any_project, nodes.c.project))
        walk = walk.union(step)
        nearest = func.min(walk.c.distance)
        reached = (
            select(walk.c.node_id, nearest.label("distance"))
            .group_by(walk.c.node_id)
            .having(nearest > 0)  # the root itself (also when a cycle leads back to it)
            .order_by(nearest, walk.c.node_id)
            .limit(bindparam("limit", type_=Integer()))
            .cte(f"lineage_{side}_reached")
        )
        parts.append(select(reached.c.node_id, literal(side, String()).label("relation"), reached.c.distance))
    found = (union_all(*parts) if len(parts) > 1 else parts[0]).cte("lineage_found")
    found_ids = select(found.c.node_id)
    node_rows = select(
        literal("node", String()).label("row_kind"),
        *(nodes.c[name] for name in NODE_COLUMNS),
        found.c.relation,
        found.c.distance,
        *(cast(null(), edges.c[name].type).label(name) for name in EDGE_COLUMNS),
    ).join_from(found, nodes, nodes.c.id == found.c.node_id)
    edge_rows = select(
        literal("edge", String()).label("row_kind"),
        edges.c.id,
        *(cast(null(), nodes.c[name].type).label(name) for name in NODE_COLUMNS[1:4]),
        edges.c.project,
        *(cast(null(), nodes.c[name].type).label(name) for name in NODE_COLUMNS[5:]),
        cast(null(), String()).label("relation"),
        cast(null(), Integer()).label("distance"),
        *(edges.c[name] for name in EDGE_COLUMNS),
    ).where(edges.c.source_id.in_(found_ids), edges.c.target_id.in_(found_ids))
    return union_all(node_rows, edge_rows)


async def neighbourhood(
    session: AsyncSession,
    root_type: str,
    root_key: str,
    depth: int,
    *,
    upstream: bool,
    downstream: bool,
    visibility: Visibility,
    limit: int,
) -> Sequence[Any]:
    """The root's row (relation `root`, distance 0; none when no node has that key or alias), up to `limit`
    reached nodes per direction (a node reached both ways comes once per way), and every edge between
    any of them, in no particular order."""
    statement = neighbourhood_statement(
        upstream=upstream,
        downstream=downstream,
        everything=visibility.everything,
        any_project=visibility.any_project,
    )
    params: dict[str, Any] = {"root_type": root_type, "root_key": root_key, "depth": depth, "limit": limit}
    if not visibility.everything and not visibility.any_project:
        params["projects"] = list(visibility.projects)
    return (await session.execute(statement, params)).all()


async def find_node(session: AsyncSession, node_type: NodeType, key: str) -> LineageNode | None:
    """A node by key, or by alias (a model version's catalogue UUID, a dataset's URI); the key wins."""
    return await session.scalar(
        select(LineageNode)
        .where(LineageNode.type == node_type.value, or_(LineageNode.key == key, LineageNode.alias == key))
        .order_by((LineageNode.key == key).desc(), LineageNode.id)
        .limit(1)
    )


async def neighbours(
    session: AsyncSession, node_id: int, *, kind: EdgeKind, upstream: bool, node_type: NodeType | None = None
) -> list[LineageNode]:
    """Direct neighbours over edges of one kind (upstream: sources of edges into the node)."""
    near, far = (
        (LineageEdge.target_id, LineageEdge.source_id) if upstream else (LineageEdge.source_id, LineageEdge.target_id)
    )
    conditions = [near == node_id, LineageEdge.kind == kind.value]
    if node_type is not None:
        conditions.append(LineageNode.type == node_type.value)
    rows = await session.scalars(
        select(LineageNode).join(LineageEdge, and_(far == LineageNode.id)).where(*conditions).order_by(LineageNode.id)
    )
    return list(rows.all())
