"""Fixtures of the features tests: the platform on the full stack (PostgreSQL + Redis + S3 via moto, with a
real `mlplatform worker` process running the jobs) and on the embedded default (SQLite, local folder,
jobs in-process).

Both stacks are module-scoped (Feast's first import and the worker's start are the slow parts), so
each test works in a project of its own. At module end the platform's and Feast's tables are
emptied, as `clean_postgres` does for other tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import create_engine, text

from mlplatform.kernel.db import FEAST_SCHEMA, PLATFORM_SCHEMA
from mlplatform.kernel.migrations import upgrade
from mlplatform.modules.features.adapters.feast_config import psycopg_url
from mlplatform.modules.features.adapters.files import StoreLocation
from mlplatform.modules.features.adapters.store import restore_environment
from mlplatform.settings import Settings
from tests.integration.features.stack import Stack
from tests.support.factories import s3_bucket
from tests.support.served import worker, worker_env


def _empty_tables(database_url: str) -> None:
    engine = create_engine(psycopg_url(database_url))
    try:
        with engine.begin() as connection:
            for schema in (PLATFORM_SCHEMA, FEAST_SCHEMA):
                rows = connection.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"),
                    {"s": schema},
                )
                tables = [f'{schema}."{row[0]}"' for row in rows]
                if tables:
                    connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def full_settings(
    postgres_url: str, redis_url: str, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("features-full"),
        database_url=postgres_url,
        redis_url=redis_url,
        storage_url=f"s3://{s3_bucket(s3_endpoint, 'features-')}/platform",
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
        log_json=False,
    )
    yield settings
    _empty_tables(postgres_url)


@pytest.fixture(scope="module")
def embedded_stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(data_dir=tmp_path_factory.mktemp("features-embedded"), log_json=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    return settings


async def _stack(name: str, settings: Settings, worker_log: Path | None) -> AsyncIterator[Stack]:
    from mlplatform.app import create_app

    app = create_app(settings)
    root = settings.resolved_storage_url
    location = StoreLocation(
        root if "://" in root else Path(root).resolve().as_uri(), settings.s3_endpoint_url, settings.s3_region
    )
    async with AsyncTestClient(app, timeout=60) as client:
        stack = Stack(name=name, settings=settings, app=app, client=client, location=location, worker_log=worker_log)
        try:
            yield stack
        finally:
            stack.close()


async def _stack_with_worker(name: str, settings: Settings) -> AsyncIterator[Stack]:
    """`_stack` with a real `mlplatform worker` running its jobs, stopped (SIGTERM, then kill) afterwards."""
    log = settings.data_dir / "worker.log"
    with worker(worker_env(settings), log):
        async for stack in _stack(name, settings, log):
            yield stack


@pytest.fixture(scope="module")
async def full_stack(full_settings: Settings) -> AsyncIterator[Stack]:
    async for stack in _stack_with_worker("full", full_settings):
        yield stack


@pytest.fixture(scope="module")
async def embedded_stack(embedded_stack_settings: Settings) -> AsyncIterator[Stack]:
    async for stack in _stack("embedded", embedded_stack_settings, None):
        yield stack


@pytest.fixture(autouse=True)
def _feast_leaves_no_environment() -> Iterator[None]:
    """Tests that import Feast themselves: undo its process-wide prometheus settings (see adapters/store.py)."""
    yield
    restore_environment()


@pytest.fixture(params=["full", "embedded"])
def stack(request: pytest.FixtureRequest) -> Stack:
    """Each test using this runs on both stacks."""
    chosen: Stack = request.getfixturevalue(f"{request.param}_stack")
    return chosen
