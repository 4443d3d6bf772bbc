"""Lineage fixtures: service-level tests run on PostgreSQL and on the embedded SQLite default."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mlplatform.kernel.db import Database
from mlplatform.kernel.migrations import upgrade
from tests.integration.lineage.capture import CaptureServer, capture_server


@pytest.fixture(scope="session")
def lineage_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lineage-sqlite") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, lineage_sqlite_template: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("clean_postgres")
        return url
    path = tmp_path / "lineage.db"
    shutil.copy(lineage_sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with capture_server() as server:
        yield server
