"""Event types and the outbox tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import msgspec
from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mlplatform.kernel.db import Base, utcnow

E = TypeVar("E", bound="DomainEvent")


class DomainEvent(msgspec.Struct, kw_only=True, frozen=True):
    """Base of every domain event. Subclasses set `event_type` and `aggregate_type` and add fields.

    `aggregate_id` identifies the thing the event is about; delivery is ordered per aggregate.
    """

    event_type: ClassVar[str]
    aggregate_type: ClassVar[str]

    aggregate_id: str
    project: str | None = None


class StoredEvent(msgspec.Struct, kw_only=True, frozen=True):
    """An event as read back from the outbox, handed to subscribers."""

    id: uuid.UUID
    seq: int
    event_type: str
    aggregate_type: str
    aggregate_id: str
    project: str | None
    actor: str | None
    request_id: str | None
    occurred_at: datetime
    payload: dict[str, Any]

    def decode(self, event_class: type[E]) -> E:
        """The payload as a typed event."""
        return msgspec.convert(self.payload, event_class)


class OutboxEvent(Base):
    __tablename__ = "kernel_outbox_events"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    event_type: Mapped[str] = mapped_column(String(120))
    aggregate_type: Mapped[str] = mapped_column(String(60))
    aggregate_id: Mapped[str] = mapped_column(String(200))
    project: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]]
    fanned_out: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        Index("ix_kernel_outbox_events_pending_fanout", "seq", postgresql_where="NOT fanned_out"),
        Index("ix_kernel_outbox_events_aggregate", "aggregate_type", "aggregate_id", "seq"),
        Index("ix_kernel_outbox_events_type", "event_type", "seq"),
    )

    def to_stored(self) -> StoredEvent:
        return StoredEvent(
            id=self.id,
            seq=self.seq,
            event_type=self.event_type,
            aggregate_type=self.aggregate_type,
            aggregate_id=self.aggregate_id,
            project=self.project,
            actor=self.actor,
            request_id=self.request_id,
            occurred_at=self.occurred_at,
            payload=self.payload,
        )


class OutboxDelivery(Base):
    """One event for one subscriber: pending until the subscriber's transaction commits it as done."""

    __tablename__ = "kernel_outbox_deliveries"

    subscriber: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("kernel_outbox_events.seq", ondelete="CASCADE"),
        primary_key=True,
    )
    aggregate_key: Mapped[str] = mapped_column(String(270))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "ix_kernel_outbox_deliveries_due",
            "status",
            "next_attempt_at",
            "event_seq",
        ),
        Index("ix_kernel_outbox_deliveries_order", "subscriber", "aggregate_key", "status", "event_seq"),
    )
