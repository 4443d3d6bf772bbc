"""Concurrent promotions on PostgreSQL: the database, not the code, keeps one production version.

The 50 promotions run in 50 transactions on 50 connections. To make them truly overlap (and not
merely run one after another through a pool), the test holds an EXCLUSIVE lock on the transition
history table: every promotion reads the model's state and updates its version row, then blocks
on writing its history row (or on the winner's unique-index entry). Only when all 50 are waiting
inside their transactions is the lock released. Every one of them decided "I may promote" from the
same state; the partial unique index lets exactly one commit, the other 49 get 409.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import select

from mlplatform.kernel.db import Database
from mlplatform.kernel.errors import Conflict
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.models import CatalogueModelVersion, CatalogueStageTransition
from tests.integration.catalogue.conftest import acting, events_of
from tests.support.factories import catalogue_model
from tests.support.wait import wait_until_async

P = "race"
CONTENDERS = 50


async def promote(database: Database, number: int) -> str:
    try:
        async with acting(database, f"user:u{number}") as svc:
            await svc.lifecycle.request_transition(
                P, "m", number, schemas.TransitionCreate(to_stage="production"), if_match=None
            )
    except Conflict:
        return "409"
    return "200"


async def waiting_backends(dsn: str, database_name: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' "
            "AND application_name = 'mlplatform'",
            database_name,
        )
        return count
    finally:
        await conn.close()


async def race(database: Database, url: str, contenders: list[int]) -> list[str]:
    dsn = url.replace("postgresql+asyncpg", "postgresql")
    database_name = url.rsplit("/", 1)[1]
    gate = await asyncpg.connect(dsn, server_settings={"search_path": "mlplatform"})
    try:
        transaction = gate.transaction()
        await transaction.start()
        await gate.execute(f"LOCK TABLE {CatalogueStageTransition.__tablename__} IN EXCLUSIVE MODE")
        tasks = [asyncio.create_task(promote(database, n)) for n in contenders]

        async def all_at_the_gate() -> bool:
            assert not any(t.done() for t in tasks), [t.result() for t in tasks if t.done()]
            return await waiting_backends(dsn, database_name) >= len(contenders)

        await wait_until_async(all_at_the_gate, timeout=60, message="the promotions all reaching the gate")
        await transaction.rollback()
    finally:
        await gate.close()
    return list(await asyncio.gather(*tasks))


@pytest.mark.usefixtures("postgres_only")
@pytest.mark.parametrize("with_current_production", [False, True], ids=["first-production", "replacing"])
async def test_fifty_concurrent_promotions_one_winner(database_url: str, with_current_production: bool) -> None:
    database = Database(database_url, pool_size=CONTENDERS + 5)
    try:
        await catalogue_model(database, P, "m", versions=CONTENDERS + 1, stage="staging")
        if with_current_production:
            assert await promote(database, CONTENDERS + 1) == "200"
        results = await race(database, database_url, list(range(1, CONTENDERS + 1)))
        assert sorted(results).count("200") == 1, results
        assert results.count("409") == CONTENDERS - 1
        async with database.sessionmaker() as session:
            production = (
                await session.scalars(
                    select(CatalogueModelVersion.version).where(CatalogueModelVersion.stage == "production")
                )
            ).all()
            archived = (
                await session.scalars(
                    select(CatalogueModelVersion.version).where(CatalogueModelVersion.stage == "archived")
                )
            ).all()
        winner = results.index("200") + 1
        assert production == [winner]
        assert archived == ([CONTENDERS + 1] if with_current_production else [])
        promoted = [e for e in await events_of(database, "catalogue.StageChanged") if e["to_stage"] == "production"]
        assert len(promoted) == (2 if with_current_production else 1)
    finally:
        await database.dispose()


@pytest.mark.usefixtures("postgres_only")
async def test_concurrent_promotions_without_a_gate_never_break_the_invariant(database_url: str) -> None:
    """Free-running: some may win one after another (each archiving the previous one), none errors."""
    database = Database(database_url, pool_size=20)
    try:
        await catalogue_model(database, P, "m", versions=20, stage="staging")
        results = await asyncio.gather(*(promote(database, n) for n in range(1, 21)))
        assert set(results) <= {"200", "409"}
        assert "200" in results
        async with database.sessionmaker() as session:
            production = (
                await session.scalars(
                    select(CatalogueModelVersion.version).where(CatalogueModelVersion.stage == "production")
                )
            ).all()
            archived = (
                await session.scalars(
                    select(CatalogueModelVersion.version).where(CatalogueModelVersion.stage == "archived")
                )
            ).all()
        assert len(production) == 1
        assert len(archived) == results.count("200") - 1
    finally:
        await database.dispose()
