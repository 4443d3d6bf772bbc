"""The transactional outbox on PostgreSQL and on the embedded SQLite default."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import Database
from mlplatform.kernel.events import Dispatcher, StoredEvent, Subscriber, publish
from mlplatform.kernel.events.model import OutboxDelivery, OutboxEvent
from mlplatform.kernel.migrations import upgrade
from mlplatform.settings import OutboxSettings
from tests.support.outbox_probe import ThingHappened, create_probe_table, received, recording_subscriber
from tests.support.wait import wait_until_async

FAST = OutboxSettings(backoff_base_seconds=0.01, backoff_max_seconds=0.05, max_attempts=3, poll_interval_seconds=0.05)


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("clean_postgres")
        return url
    url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    upgrade(url)
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await create_probe_table(db)
    yield db
    await db.dispose()


async def publish_things(database: Database, *aggregates: str) -> list[OutboxEvent]:
    async with database.transaction() as session:
        return [await publish(session, ThingHappened(aggregate_id=a, note=f"n{i}")) for i, a in enumerate(aggregates)]


async def test_committed_events_are_delivered_once(database: Database) -> None:
    rows = await publish_things(database, "a", "b", "a")
    dispatcher = Dispatcher(database, [recording_subscriber()], FAST)

    assert await dispatcher.run_until_idle() == 3
    assert await dispatcher.run_until_idle() == 0
    assert sorted(await received(database)) == sorted(r.id for r in rows)


async def test_rolled_back_events_are_never_stored_or_delivered(database: Database) -> None:
    with pytest.raises(RuntimeError, match="business rule"):
        async with database.transaction() as session:
            await publish(session, ThingHappened(aggregate_id="x"))
            raise RuntimeError("business rule broke after publishing")

    dispatcher = Dispatcher(database, [recording_subscriber()], FAST)
    assert await dispatcher.run_until_idle() == 0
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


async def test_subscriber_receives_typed_payload(database: Database) -> None:
    seen: list[ThingHappened] = []

    async def handle(session: AsyncSession, event: StoredEvent) -> None:
        seen.append(event.decode(ThingHappened))

    await publish_things(database, "typed")
    await Dispatcher(database, [Subscriber("typed", handle)], FAST).run_until_idle()
    assert seen == [ThingHappened(aggregate_id="typed", note="n0")]


async def test_failing_subscriber_is_retried_and_does_not_affect_others(database: Database) -> None:
    calls = 0

    async def flaky(session: AsyncSession, event: StoredEvent) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("downstream not ready")

    await publish_things(database, "r")
    dispatcher = Dispatcher(database, [Subscriber("flaky", flaky), recording_subscriber()], FAST)
    await dispatcher.run_until_idle()
    assert len(await received(database)) == 1

    async def third_call_made() -> bool:  # each retry is due after a short backoff
        await dispatcher.run_until_idle()
        return calls >= 3

    await wait_until_async(third_call_made, timeout=5, interval=0.02, message="the third delivery attempt")
    async with database.sessionmaker() as session:
        delivery = await session.get_one(OutboxDelivery, ("flaky", 1)) if database.dialect == "sqlite" else None
        statuses = dict(
            (await session.execute(select(OutboxDelivery.subscriber, OutboxDelivery.status))).tuples().all()
        )
    assert calls == 3
    assert statuses == {"flaky": "done", "probe": "done"}
    if delivery is not None:
        assert delivery.attempts == 3


async def test_failure_blocks_later_events_of_the_same_aggregate_only(database: Database) -> None:
    delivered: list[tuple[str, str]] = []
    fail_first = True

    async def ordered(session: AsyncSession, event: StoredEvent) -> None:
        nonlocal fail_first
        note = event.decode(ThingHappened).note
        if note == "n0" and fail_first:
            fail_first = False
            raise RuntimeError("first delivery fails")
        delivered.append((event.aggregate_id, note))

    await publish_things(database, "same", "same", "other")
    dispatcher = Dispatcher(database, [Subscriber("ordered", ordered)], FAST)

    async def all_delivered() -> bool:
        await dispatcher.run_until_idle()
        return len(delivered) == 3

    await wait_until_async(all_delivered, timeout=5, interval=0.02, message=lambda: f"3 deliveries: {delivered}")
    # "other" went through while "same" n0 was failing; n1 waited for n0's successful retry.
    assert delivered == [("other", "n2"), ("same", "n0"), ("same", "n1")]


async def test_exhausted_delivery_is_parked_not_lost_and_can_be_retried(database: Database) -> None:
    broken = True

    async def handler(session: AsyncSession, event: StoredEvent) -> None:
        if broken:
            raise ValueError("cannot handle")

    await publish_things(database, "d")
    dispatcher = Dispatcher(database, [Subscriber("fragile", handler)], FAST)

    async def parked() -> bool:
        await dispatcher.run_until_idle()
        async with database.sessionmaker() as session:
            return (await session.scalars(select(OutboxDelivery.status))).one() == "dead"

    await wait_until_async(parked, timeout=5, interval=0.03, message="the delivery parked")
    await dispatcher.run_until_idle()  # a parked delivery is not attempted again
    async with database.sessionmaker() as session:
        delivery = (await session.scalars(select(OutboxDelivery))).one()
        assert (delivery.status, delivery.attempts) == ("dead", 3)
        assert delivery.last_error == "ValueError: cannot handle"

    broken = False
    assert await dispatcher.retry_dead("fragile") == 1
    assert await dispatcher.run_until_idle() == 1


async def test_delivery_cancelled_mid_handler_is_redelivered_exactly_once(database: Database) -> None:
    rows = await publish_things(database, "c1", "c2", "c3")
    entered = asyncio.Event()

    async def stuck(session: AsyncSession, event: StoredEvent) -> None:
        await recording_subscriber().handler(session, event)
        entered.set()
        await asyncio.sleep(3600)

    crashing = Dispatcher(database, [Subscriber("probe", stuck)], FAST)
    crashing.start()
    await asyncio.wait_for(entered.wait(), timeout=10)
    await crashing.stop()
    assert await received(database) == []

    await Dispatcher(database, [recording_subscriber()], FAST).run_until_idle()
    assert sorted(await received(database)) == sorted(r.id for r in rows)


async def test_process_killed_mid_delivery_loses_and_duplicates_nothing(clean_postgres: str) -> None:
    """SIGKILL a real dispatcher process part-way through, then let another one finish."""
    database = Database(clean_postgres)
    await create_probe_table(database)
    rows = await publish_things(database, *[f"k{i % 7}" for i in range(40)])
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.outbox_probe", clean_postgres, "0.05"],
        cwd=Path(__file__).resolve().parents[3],
        env={**os.environ},
    )

    async def some_received() -> bool:
        return len(await received(database)) >= 5

    await wait_until_async(some_received, timeout=30, interval=0.02, message="5 deliveries by the child")
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    partial = await received(database)
    assert 5 <= len(partial) < 40

    await Dispatcher(database, [recording_subscriber()], FAST).run_until_idle()
    ids = await received(database)
    assert len(ids) == len(set(ids)) == 40
    assert set(ids) == {r.id for r in rows}
    async with database.sessionmaker() as session:
        statuses = (await session.scalars(select(OutboxDelivery.status).distinct())).all()
    assert statuses == ["done"]
    await database.dispose()
