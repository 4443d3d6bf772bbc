"""Delivery of outbox events to subscribers, after commit, at least once, in order per aggregate.

Each round has two steps:
1. fan-out: events not yet fanned out get one `pending` delivery row per interested subscriber;
2. deliver: due deliveries, oldest first, skipping any whose aggregate has an earlier pending
   delivery for the same subscriber. Each delivery runs in its own transaction together with the
   subscriber's own writes, and the row is marked `done` in that same transaction: a crash anywhere
   before the commit leaves it pending, to be delivered again; a commit makes it final.
A failure is recorded with exponential backoff; after `max_attempts` the delivery is parked as
`dead` (kept and listable, never dropped). Row locks with SKIP LOCKED make several replicas safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy import and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mlplatform.kernel.background import PollingLoop
from mlplatform.kernel.db import Database, utcnow
from mlplatform.kernel.events.model import OutboxDelivery, OutboxEvent, StoredEvent
from mlplatform.settings import OutboxSettings

log = structlog.get_logger("mlplatform.outbox")

Handler = Callable[[AsyncSession, StoredEvent], Awaitable[None]]


@dataclass(frozen=True)
class Subscriber:
    """A named consumer of events. `event_types=None` means every event.

    The handler runs inside the delivery's transaction: writes it makes through `session` commit
    atomically with the delivery being marked done, so database side effects happen exactly once.
    """

    name: str
    handler: Handler
    event_types: frozenset[str] | None = None

    def wants(self, event_type: str) -> bool:
        return self.event_types is None or event_type in self.event_types


@dataclass
class Dispatcher:
    database: Database
    subscribers: list[Subscriber]
    settings: OutboxSettings = field(default_factory=OutboxSettings)

    def __post_init__(self) -> None:
        names = [s.name for s in self.subscribers]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate subscriber names: {names}")
        self._by_name = {s.name: s for s in self.subscribers}
        self._loop = PollingLoop(
            "outbox-dispatcher",
            self.run_until_idle,
            interval=self.settings.poll_interval_seconds,
            failure_event="outbox_round_failed",
        )

    def wake(self) -> None:
        """Ask the loop to run a round now (called after a commit that wrote events)."""
        self._loop.wake()

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def run_until_idle(self, max_rounds: int = 1000) -> int:
        """Fan out and deliver until nothing is due. Returns how many deliveries succeeded."""
        delivered = 0
        for _ in range(max_rounds):
            await self.fan_out()
            done, attempted = await self.deliver_due()
            delivered += done
            if attempted == 0:
                break
        return delivered

    async def fan_out(self) -> int:
        """Create delivery rows for events not yet fanned out. Returns how many events were handled."""
        async with self.database.transaction() as session:
            rows = (
                await session.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.fanned_out.is_(False))
                    .order_by(OutboxEvent.seq)
                    .limit(self.settings.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for event in rows:
                for subscriber in self.subscribers:
                    if subscriber.wants(event.event_type):
                        session.add(
                            OutboxDelivery(
                                subscriber=subscriber.name,
                                event_seq=event.seq,
                                aggregate_key=f"{event.aggregate_type}:{event.aggregate_id}",
                            )
                        )
                event.fanned_out = True
            return len(rows)

    async def deliver_due(self) -> tuple[int, int]:
        """Deliver one batch of due deliveries. Returns (succeeded, attempted)."""
        earlier = aliased(OutboxDelivery)
        blocked_by_earlier = exists().where(
            and_(
                earlier.subscriber == OutboxDelivery.subscriber,
                earlier.aggregate_key == OutboxDelivery.aggregate_key,
                earlier.status == "pending",
                earlier.event_seq < OutboxDelivery.event_seq,
            )
        )
        async with self.database.sessionmaker() as session:
            due = (
                await session.execute(
                    select(OutboxDelivery.subscriber, OutboxDelivery.event_seq)
                    .where(
                        OutboxDelivery.status == "pending",
                        OutboxDelivery.next_attempt_at <= utcnow(),
                        ~blocked_by_earlier,
                    )
                    .order_by(OutboxDelivery.event_seq)
                    .limit(self.settings.batch_size)
                )
            ).all()
        succeeded = 0
        for subscriber_name, event_seq in due:
            if await self._deliver_one(subscriber_name, event_seq):
                succeeded += 1
        return succeeded, len(due)

    async def _deliver_one(self, subscriber_name: str, event_seq: int) -> bool:
        subscriber = self._by_name.get(subscriber_name)
        try:
            async with self.database.transaction() as session:
                delivery = await session.scalar(
                    select(OutboxDelivery)
                    .where(
                        OutboxDelivery.subscriber == subscriber_name,
                        OutboxDelivery.event_seq == event_seq,
                        OutboxDelivery.status == "pending",
                    )
                    .with_for_update(skip_locked=True)
                )
                if delivery is None:
                    return False
                if subscriber is None:
                    raise LookupError(f"no subscriber named {subscriber_name!r} in this process")
                event = await session.get_one(OutboxEvent, event_seq)
                await subscriber.handler(session, event.to_stored())
                delivery.status = "done"
                delivery.attempts += 1
                delivery.delivered_at = utcnow()
                delivery.last_error = None
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._record_failure(subscriber_name, event_seq, exc)
            return False

    async def _record_failure(self, subscriber_name: str, event_seq: int, exc: Exception) -> None:
        log.warning(
            "outbox_delivery_failed",
            subscriber=subscriber_name,
            event_seq=event_seq,
            error=f"{type(exc).__name__}: {exc}"[:500],
        )
        async with self.database.transaction() as session:
            delivery = await session.get(OutboxDelivery, (subscriber_name, event_seq))
            if delivery is None:
                return
            delivery.attempts += 1
            delivery.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if delivery.attempts >= self.settings.max_attempts:
                delivery.status = "dead"
                log.error("outbox_delivery_dead", subscriber=subscriber_name, event_seq=event_seq)
            else:
                delay = min(
                    self.settings.backoff_base_seconds * 2 ** (delivery.attempts - 1),
                    self.settings.backoff_max_seconds,
                )
                delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)

    async def retry_dead(self, subscriber_name: str | None = None) -> int:
        """Put parked deliveries back in the queue (an admin action)."""
        async with self.database.transaction() as session:
            statement = (
                update(OutboxDelivery)
                .where(OutboxDelivery.status == "dead")
                .values(status="pending", attempts=0, next_attempt_at=utcnow())
            )
            if subscriber_name is not None:
                statement = statement.where(OutboxDelivery.subscriber == subscriber_name)
            result = await session.execute(statement)
            count: int = getattr(result, "rowcount", 0) or 0
        self.wake()
        return count
