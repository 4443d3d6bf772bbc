"""Writing the graph: idempotent upserts of nodes and edges (PostgreSQL and SQLite).

Every write is an `INSERT ... ON CONFLICT` on the natural key, so a domain event delivered twice (the
outbox delivers at least once) leaves the graph as one delivery would, and two deliveries touching
the same node at the same time cannot lose each other's attributes (the merge happens in the
database: `jsonb ||` on PostgreSQL, `json_patch` on SQLite).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, not_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import JSONDocument
from mlplatform.modules.lineage.models import LineageEdge, LineageNode
from mlplatform.modules.lineage.vocabulary import EdgeKind, NodeType


@dataclass(frozen=True)
class NodeRef:
    id: int
    type: str
    key: str


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def dialect_insert(session: AsyncSession) -> Any:
    """`INSERT ... ON CONFLICT` for the session's database (both dialects spell it the same way)."""
    return postgresql.insert if is_postgres(session) else sqlite.insert


def _merge_json(session: AsyncSession, current: Any, new: Any) -> ColumnElement[Any]:
    if is_postgres(session):
        merged: ColumnElement[Any] = current.op("||")(new)
        return merged
    return func.json_patch(current, new)


def _later(session: AsyncSession, current: Any, new: Any) -> ColumnElement[Any]:
    if is_postgres(session):
        return func.greatest(current, new)
    return func.max(current, new)


def _plain(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """JSON-safe attributes; `None` values are dropped (json_patch would read them as deletions)."""
    return {k: v for k, v in (attributes or {}).items() if v is not None}


class GraphWriter:
    """Node and edge upserts inside one transaction, stamped with the domain event being applied."""

    def __init__(self, session: AsyncSession, *, event_id: uuid.UUID | None, at: datetime) -> None:
        self.session = session
        self.event_id = event_id
        self.at = at

    async def node(
        self,
        node_type: NodeType,
        key: str,
        *,
        project: str | None,
        name: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        alias: str | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> NodeRef:
        """Record what an event says about a node (creates it, or merges into what is known).

        `defaults` are attributes that only apply where the node has none yet (a version's initial
        stage must not overwrite the stage a later event already recorded)."""
        table = LineageNode.__table__
        values = {
            "type": node_type.value,
            "key": key,
            "alias": alias,
            "project": project,
            "name": (name or key)[:300],
            "attributes": {**_plain(defaults), **_plain(attributes)},
            "placeholder": False,
            "first_seen": self.at,
            "last_seen": self.at,
        }
        statement = dialect_insert(self.session)(table).values(**values)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.type, table.c.key],
            set_={
                "project": func.coalesce(excluded.project, table.c.project),
                "name": excluded.name,
                "alias": func.coalesce(excluded.alias, table.c.alias),
                "attributes": self._merged_attributes(table.c.attributes, excluded.attributes, attributes, defaults),
                "placeholder": False,
                "last_seen": _later(self.session, table.c.last_seen, excluded.last_seen),
            },
        ).returning(table.c.id)
        node_id = (await self.session.execute(statement)).scalar_one()
        return NodeRef(node_id, node_type.value, key)

    def _merged_attributes(
        self, current: Any, excluded: Any, given: Mapping[str, Any] | None, defaults: Mapping[str, Any] | None
    ) -> ColumnElement[Any]:
        if not defaults:
            return _merge_json(self.session, current, excluded)
        under = _merge_json(self.session, bindparam(None, _plain(defaults), type_=JSONDocument), current)
        return _merge_json(self.session, under, bindparam(None, _plain(given), type_=JSONDocument))

    async def reference(
        self,
        node_type: NodeType,
        key: str,
        *,
        project: str | None,
        name: str | None = None,
        alias: str | None = None,
    ) -> NodeRef:
        """A node another event points at: created as a placeholder if unknown, otherwise left as it is
        (only an event about the node itself may change its project, name or attributes)."""
        table = LineageNode.__table__
        statement = dialect_insert(self.session)(table).values(
            type=node_type.value,
            key=key,
            alias=alias,
            project=project,
            name=(name or key)[:300],
            attributes={},
            placeholder=True,
            first_seen=self.at,
            last_seen=self.at,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.type, table.c.key],
            set_={"alias": func.coalesce(table.c.alias, statement.excluded.alias)},
        ).returning(table.c.id)
        node_id = (await self.session.execute(statement)).scalar_one()
        return NodeRef(node_id, node_type.value, key)

    async def resolve(self, node_type: NodeType, ref: str, *, project: str | None) -> NodeRef:
        """A node named by key or by alias (a run naming its dataset by storage URI); a placeholder keyed
        by `ref` when neither is known yet (`absorb` folds it into the real node once that arrives)."""
        found = await self.session.execute(
            select(LineageNode.id, LineageNode.key)
            .where(LineageNode.type == node_type.value, or_(LineageNode.key == ref, LineageNode.alias == ref))
            .order_by((LineageNode.key == ref).desc(), LineageNode.id)
            .limit(1)
        )
        row = found.first()
        if row is not None:
            return NodeRef(row.id, node_type.value, row.key)
        return await self.reference(node_type, ref, project=project)

    async def absorb(self, node: NodeRef, placeholder_key: str) -> None:
        """Fold the placeholder keyed `placeholder_key` (created when something referred to `node` by its
        alias before `node` was known) into `node`: its edges move over, the placeholder goes."""
        if placeholder_key == node.key:
            return
        placeholder = await self.session.scalar(
            select(LineageNode.id).where(
                LineageNode.type == node.type, LineageNode.key == placeholder_key, LineageNode.placeholder.is_(True)
            )
        )
        if placeholder is None:
            return
        table = LineageEdge.__table__
        rows = (
            await self.session.execute(
                select(table).where(or_(table.c.source_id == placeholder, table.c.target_id == placeholder))
            )
        ).mappings()
        for row in rows.all():
            source = node.id if row["source_id"] == placeholder else row["source_id"]
            target = node.id if row["target_id"] == placeholder else row["target_id"]
            if source == target:
                continue
            statement = (
                dialect_insert(self.session)(table)
                .values(
                    source_id=source,
                    target_id=target,
                    kind=row["kind"],
                    project=row["project"],
                    event_id=row["event_id"],
                    created_at=row["created_at"],
                )
                .on_conflict_do_nothing(index_elements=[table.c.source_id, table.c.target_id, table.c.kind])
            )
            await self.session.execute(statement)
        await self.session.execute(
            delete(LineageEdge).where(or_(table.c.source_id == placeholder, table.c.target_id == placeholder))
        )
        await self.session.execute(delete(LineageNode).where(LineageNode.id == placeholder))

    async def edge(self, source: NodeRef, target: NodeRef, kind: EdgeKind, *, project: str | None) -> None:
        if source.id == target.id:
            return
        table = LineageEdge.__table__
        statement = (
            dialect_insert(self.session)(table)
            .values(
                source_id=source.id,
                target_id=target.id,
                kind=kind.value,
                project=project,
                event_id=self.event_id,
                created_at=self.at,
            )
            .on_conflict_do_nothing(index_elements=[table.c.source_id, table.c.target_id, table.c.kind])
        )
        await self.session.execute(statement)

    async def replace_inbound(
        self, target: NodeRef, kind: EdgeKind, sources: Iterable[NodeRef], *, project: str | None, source_type: NodeType
    ) -> None:
        """Make `sources` the only `kind` edges from nodes of `source_type` into `target` (a redefined
        feature view reads other sources; a deployment moved to another version)."""
        keep = [s.id for s in sources]
        statement = delete(LineageEdge).where(
            LineageEdge.target_id == target.id,
            LineageEdge.kind == kind.value,
            LineageEdge.source_id.in_(select(LineageNode.id).where(LineageNode.type == source_type.value)),
        )
        if keep:
            statement = statement.where(not_(LineageEdge.source_id.in_(keep)))
        await self.session.execute(statement)
        for source in sources:
            await self.edge(source, target, kind, project=project)
