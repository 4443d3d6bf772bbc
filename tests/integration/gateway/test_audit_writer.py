"""After-response audit rows: written in batches, kept through a database outage, flushed on stop."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from mlplatform.kernel.db import Database
from mlplatform.modules.gateway.audit.recording import AuditValues
from mlplatform.modules.gateway.audit.writer import AuditWriter
from mlplatform.modules.gateway.models import AuditEvent
from tests.support.wait import wait_until_async

BROKEN = "postgresql+asyncpg://postgres@127.0.0.1:5432/no_such_database"
"""A database that refuses every write, standing in for an outage."""


def row(n: int) -> AuditValues:
    return {
        "actor": "user:writer",
        "action": f"test_{n}",
        "method": "POST",
        "path": f"/x/{n}",
        "outcome": "success",
        "status_code": 200,
    }


async def count(database: Database) -> int:
    async with database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


async def test_a_burst_is_written_in_the_background(clean_postgres: str) -> None:
    database = Database(clean_postgres)
    writer = AuditWriter(database, flush_seconds=0.05)
    writer.start()
    try:
        for n in range(300):
            writer.add(row(n))
        assert writer.pending == 300, "adding never waits for the database"

        async def all_written() -> bool:
            return writer.pending == 0 and await count(database) == 300

        await wait_until_async(all_written, timeout=5, message="300 rows written")
        async with database.sessionmaker() as session:
            times = (await session.scalars(select(AuditEvent.occurred_at))).all()
        assert all(t is not None for t in times)
    finally:
        await writer.stop()
        await database.dispose()


async def test_rows_wait_out_an_outage_and_stop_flushes(clean_postgres: str) -> None:
    down = Database(BROKEN)
    writer = AuditWriter(down, flush_seconds=0.01)
    for n in range(3):
        writer.add(row(n))
    await writer.flush()
    assert writer.pending == 3, "a failed write keeps the rows"
    up = Database(clean_postgres)
    try:
        writer.database = up
        writer.add(row(3))
        await writer.stop()
        assert writer.pending == 0
        assert await count(up) == 4
    finally:
        await up.dispose()
        await down.dispose()


async def test_the_buffer_is_bounded() -> None:
    writer = AuditWriter(Database(BROKEN), max_buffered=2)
    for n in range(5):
        writer.add(row(n))
    assert (writer.pending, writer.dropped) == (2, 3)
    await writer.database.dispose()


async def test_one_unstorable_row_never_holds_back_the_others(clean_postgres: str) -> None:
    database = Database(clean_postgres)
    writer = AuditWriter(database)
    try:
        writer.add(row(0))
        writer.add({**row(1), "resource": "p/\ud800", "detail": "nul\x00here", "path": "/x/" + "y" * 5000})
        writer.add({**row(2), "status_code": "not a number"})  # refused by the database whatever its text
        writer.add(row(3))
        await writer.flush()
        assert writer.pending == 0
        assert writer.rejected == 1
        async with database.sessionmaker() as session:
            stored = {e.action: e for e in (await session.scalars(select(AuditEvent))).all()}
        assert set(stored) == {"test_0", "test_1", "test_3"}
        assert stored["test_1"].resource == "p/\ufffd"
        assert stored["test_1"].detail == "nul\ufffdhere"
        assert len(stored["test_1"].path) == 2000
        writer.add(row(4))
        await writer.flush()
        assert await count(database) == 4, "later rows are written as usual"
    finally:
        await writer.stop()
        await database.dispose()


async def test_stop_drains_rows_through_a_short_outage(clean_postgres: str) -> None:
    down = Database(BROKEN)
    up = Database(clean_postgres)
    writer = AuditWriter(down, drain_seconds=5.0)
    writer.start()
    try:
        for n in range(3):
            writer.add(row(n))

        async def database_comes_back() -> None:
            await asyncio.sleep(0.6)
            writer.database = up

        back = asyncio.ensure_future(database_comes_back())
        await writer.stop()
        await back
        assert writer.pending == 0
        assert await count(up) == 3
    finally:
        await up.dispose()
        await down.dispose()
