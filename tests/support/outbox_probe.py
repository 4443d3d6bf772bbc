"""A test-only subscriber that records each delivery in a table of its own, inside the delivery's
transaction, so "delivered exactly once by id" can be checked from the database.

Run as a script (`python -m tests.support.outbox_probe URL DELAY`), it delivers everything pending
with a slow handler, so a test can kill it part-way through.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from sqlalchemy import Column, MetaData, String, Table, Uuid, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import Database
from mlplatform.kernel.events import Dispatcher, DomainEvent, StoredEvent, Subscriber
from mlplatform.settings import OutboxSettings

probe_metadata = MetaData()
receipts = Table(
    "test_outbox_receipts",
    probe_metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("aggregate_id", String(200), nullable=False),
)


class ThingHappened(DomainEvent, frozen=True, kw_only=True):
    event_type = "ThingHappened"
    aggregate_type = "thing"
    note: str = ""


async def create_probe_table(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.run_sync(probe_metadata.create_all)


async def received(database: Database) -> list[uuid.UUID]:
    async with database.sessionmaker() as session:
        return list((await session.scalars(select(receipts.c.event_id))).all())


def recording_subscriber(name: str = "probe", delay: float = 0.0) -> Subscriber:
    async def handle(session: AsyncSession, event: StoredEvent) -> None:
        await session.execute(insert(receipts).values(event_id=event.id, aggregate_id=event.aggregate_id))
        if delay:
            await asyncio.sleep(delay)

    return Subscriber(name=name, handler=handle)


async def _drain(url: str, delay: float) -> None:
    database = Database(url)
    dispatcher = Dispatcher(database, [recording_subscriber(delay=delay)], OutboxSettings(batch_size=5))
    try:
        await dispatcher.run_until_idle()
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(_drain(sys.argv[1], float(sys.argv[2])))
