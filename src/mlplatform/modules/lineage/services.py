"""Lineage queries: a node's neighbourhood (provenance, impact) and the OpenLineage event log."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import Invalid, NotFound
from mlplatform.kernel.pagination import check_limit, page_of
from mlplatform.modules.lineage import schemas
from mlplatform.modules.lineage.access import Visibility
from mlplatform.modules.lineage.repositories import events, graph
from mlplatform.modules.lineage.vocabulary import Direction, check_depth, node_id, parse_direction, parse_node_ref

MAX_NODES = 5000
"""Largest answer (per direction); the nearest nodes win when more are reachable."""
EVENT_STATUSES = ("pending", "emitted", "failed", "unsent")


class LineageService:
    def __init__(self, session: AsyncSession, visibility: Visibility) -> None:
        self.session = session
        self.visibility = visibility

    async def graph(self, node: str, *, depth: int | None, direction: str | None) -> schemas.LineageGraph:
        """Nodes within `depth` hops of `node` upstream (provenance), downstream (impact) or both, and the
        edges between them. A node the caller cannot read answers 404, exactly like one that does not exist.

        One statement (see `repositories.graph.neighbourhood`): the root, the walk in each direction, the edges."""
        node_type, key = parse_node_ref(node)
        hops = check_depth(depth)
        way = parse_direction(direction)
        rows = await graph.neighbourhood(
            self.session,
            node_type.value,
            key,
            hops,
            upstream=way in (Direction.UPSTREAM, Direction.BOTH),
            downstream=way in (Direction.DOWNSTREAM, Direction.BOTH),
            visibility=self.visibility,
            limit=MAX_NODES + 1,
        )
        reached: dict[str, list[Any]] = {"root": [], "upstream": [], "downstream": []}
        edges: list[Any] = []
        for row in rows:
            if row.row_kind == "edge":
                edges.append(row)
            else:
                reached[row.relation].append(row)
        root = reached["root"][0] if reached["root"] else None
        if root is None or not self.visibility.allows(root.project):
            raise NotFound(f"no lineage for {node_type.value}:{key}")
        truncated = len(reached["upstream"]) > MAX_NODES or len(reached["downstream"]) > MAX_NODES
        by_id: dict[int, Any] = {root.id: root}
        # Nearest first, in the order the walk's limit chose them; a node reached both ways stays upstream.
        for relation in ("upstream", "downstream"):
            for row in sorted(reached[relation], key=lambda r: (r.distance, r.id))[:MAX_NODES]:
                by_id.setdefault(row.id, row)
        ordered = sorted(by_id.values(), key=lambda row: (row.distance, row.type, row.key))
        return schemas.LineageGraph(
            root=node_id(root.type, root.key),
            direction=way.value,
            depth=hops,
            nodes=[schemas.LineageNode.of(row) for row in ordered],
            edges=[
                self._edge(edge, by_id)
                for edge in sorted(edges, key=lambda e: e.id)
                if edge.source_id in by_id and edge.target_id in by_id
            ],
            truncated=truncated,
        )

    @staticmethod
    def _edge(edge: Any, by_id: dict[int, Any]) -> schemas.LineageEdge:
        source, target = by_id[edge.source_id], by_id[edge.target_id]
        return schemas.LineageEdge(
            source=node_id(source.type, source.key),
            target=node_id(target.type, target.key),
            kind=edge.kind,
            project=edge.project,
            created_at=edge.created_at,
        )

    async def events(
        self,
        *,
        project: str | None,
        status: str | None,
        job_name: str | None,
        run_id: str | None,
        cursor: str | None,
        limit: int | None,
    ) -> schemas.OpenLineageEventPage:
        size = check_limit(limit)
        if status is not None and status not in EVENT_STATUSES:
            raise Invalid(f"status: one of {', '.join(EVENT_STATUSES)}", parameter="status")
        rows = await events.list_events(
            self.session,
            visibility=self.visibility,
            project=project,
            status=status,
            job_name=job_name,
            run_id=run_id,
            cursor=cursor,
            limit=size,
        )
        page = page_of(rows, size, events.NEWEST_FIRST).map(
            lambda row: msgspec.convert(row, schemas.OpenLineageEvent, from_attributes=True)
        )
        return schemas.OpenLineageEventPage(items=page.items, next_cursor=page.next_cursor)
