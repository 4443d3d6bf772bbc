"""Wire types of the lineage API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

from mlplatform.modules.lineage.vocabulary import node_id


class LineageNode(msgspec.Struct, kw_only=True):
    id: str
    """`<type>:<key>`: what `node=` takes."""
    type: str
    key: str
    project: str | None
    name: str
    attributes: dict[str, Any]
    placeholder: bool
    """True when the node is only known because another event referred to it."""
    first_seen: datetime
    last_seen: datetime
    relation: Literal["root", "upstream", "downstream"]
    distance: int
    """Hops from the queried node."""

    @classmethod
    def of(cls, row: Any) -> LineageNode:
        """A node row of `repositories.graph.neighbourhood` (node columns + relation + distance)."""
        return cls(
            id=node_id(row.type, row.key),
            type=row.type,
            key=row.key,
            project=row.project,
            name=row.name,
            attributes=row.attributes or {},
            placeholder=row.placeholder,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            relation=row.relation,
            distance=row.distance,
        )


class LineageEdge(msgspec.Struct, kw_only=True):
    source: str
    """Upstream end (`<type>:<key>`): data flows from source to target."""
    target: str
    kind: str
    project: str | None
    created_at: datetime


class LineageGraph(msgspec.Struct, kw_only=True):
    root: str
    direction: Literal["upstream", "downstream", "both"]
    depth: int
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool = False
    """True when more than `MAX_NODES` nodes were reachable: the nearest ones are returned."""


class OpenLineageEvent(msgspec.Struct, kw_only=True):
    id: int
    source_event_id: uuid.UUID
    source_event_type: str
    project: str | None
    event_type: str
    job_namespace: str
    job_name: str
    run_id: str
    event_time: datetime
    status: Literal["pending", "emitted", "failed", "unsent"]
    attempts: int
    emitted_at: datetime | None
    last_error: str | None
    created_at: datetime
    event: dict[str, Any]
    """The RunEvent exactly as sent (OpenLineage 2-0-2 JSON)."""


class OpenLineageEventPage(msgspec.Struct, kw_only=True):
    items: list[OpenLineageEvent]
    next_cursor: str | None = None
