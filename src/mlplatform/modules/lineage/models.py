"""The lineage module's tables (all prefixed `lineage_`).

- `lineage_nodes`: one row per thing the platform knows (a feature view, a training dataset, an MLflow
  run, a model version ...), identified by `(type, key)`; `alias` is a second identifier some types
  have (a catalogue model version's UUID, a training dataset's storage URI).
- `lineage_edges`: directed from upstream to downstream (data flows along the edge), unique per
  `(source, target, kind)`, so applying the same domain event twice changes nothing.
- `lineage_openlineage_events`: every OpenLineage RunEvent built from a domain event, with its
  delivery state to the configured endpoint; unique per `(source event, ordinal)` for the same reason.

Integer surrogate keys keep the recursive traversal's joins narrow (one bigint per hop).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlplatform.kernel.db import Base, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit ids on PostgreSQL; SQLite only auto-increments an `INTEGER PRIMARY KEY`."""


class LineageNode(Base):
    __tablename__ = "lineage_nodes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(500))
    """The `<id>` of `node=<type>:<id>`: `<project>/<name>` for named definitions, the id for records."""
    alias: Mapped[str | None] = mapped_column(String(500))
    project: Mapped[str | None] = mapped_column(String(100))
    """Project whose readers may see the node (null: platform admins only)."""
    name: Mapped[str] = mapped_column(String(300))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    placeholder: Mapped[bool] = mapped_column(default=True)
    """True until an event about the node itself arrived (it was only referenced by another one)."""
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("type", "key"),
        Index("ix_lineage_nodes_alias", "type", "alias"),
        Index("ix_lineage_nodes_project", "project", "type"),
    )


class LineageEdge(Base):
    __tablename__ = "lineage_edges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(BigId, ForeignKey("lineage_nodes.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(BigId, ForeignKey("lineage_nodes.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    project: Mapped[str | None] = mapped_column(String(100))
    """Project of the event that recorded the edge."""
    event_id: Mapped[uuid.UUID | None]
    """The outbox event that first recorded the edge."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("source_id", "target_id", "kind"),
        Index("ix_lineage_edges_target", "target_id", "source_id"),
    )


class OpenLineageEventRow(Base):
    """An OpenLineage RunEvent as built (the JSON body) and where it stands with the endpoint.

    status: `pending` (to send), `emitted` (the endpoint answered 2xx), `failed` (gave up after the
    retries), `unsent` (no endpoint was configured when it was built; `mlplatform lineage replay` sends it).
    """

    __tablename__ = "lineage_openlineage_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_event_id: Mapped[uuid.UUID]
    ordinal: Mapped[int]
    source_event_type: Mapped[str] = mapped_column(String(120))
    project: Mapped[str | None] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(12))
    job_namespace: Mapped[str] = mapped_column(String(300))
    job_name: Mapped[str] = mapped_column(String(500))
    run_id: Mapped[str] = mapped_column(String(36))
    event_time: Mapped[datetime]
    body: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    emitted_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("source_event_id", "ordinal"),
        Index("ix_lineage_openlineage_events_due", "status", "next_attempt_at", "id"),
        Index("ix_lineage_openlineage_events_project", "project", "id"),
        Index("ix_lineage_openlineage_events_time", "event_time", "id"),
    )

    @property
    def event(self) -> dict[str, Any]:
        """The body under the name the API gives it (`schemas.OpenLineageEvent.event`)."""
        return self.body
