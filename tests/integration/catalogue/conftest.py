"""Catalogue fixtures: the same service tests run on PostgreSQL and on the embedded SQLite default.

`database` is a migrated, empty platform database: the session's PostgreSQL database (emptied after
each test) or a copy of a SQLite file migrated once per session.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import Database
from mlplatform.kernel.events.model import OutboxEvent
from mlplatform.kernel.migrations import upgrade
from mlplatform.modules.catalogue.services.approvals import ApprovalService
from mlplatform.modules.catalogue.services.deployments import DeploymentService
from mlplatform.modules.catalogue.services.lifecycle import LifecycleService
from mlplatform.modules.catalogue.services.models import ModelService
from mlplatform.modules.catalogue.services.monitoring import MonitoringService


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalogue-sqlite") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("clean_postgres")
        return url
    path = tmp_path / "catalogue.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@dataclass
class Services:
    session: AsyncSession
    models: ModelService
    lifecycle: LifecycleService
    approvals: ApprovalService
    deployments: DeploymentService
    monitoring: MonitoringService


@asynccontextmanager
async def acting(database: Database, actor: str = "user:alice") -> AsyncIterator[Services]:
    """One unit of work (committed at the end, rolled back on error) with the services as `actor`."""
    async with database.transaction() as session:
        yield Services(
            session=session,
            models=ModelService(session, actor),
            lifecycle=LifecycleService(session, actor),
            approvals=ApprovalService(session, actor),
            deployments=DeploymentService(session, actor),
            monitoring=MonitoringService(session, actor),
        )


async def event_types(database: Database) -> list[str]:
    """Types of the events in the outbox, oldest first."""
    async with database.sessionmaker() as session:
        return list((await session.scalars(select(OutboxEvent.event_type).order_by(OutboxEvent.seq))).all())


async def events_of(database: Database, event_type: str) -> list[dict[str, object]]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.seq)
        )
        return [row.payload for row in rows]
