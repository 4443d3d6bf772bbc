"""Fixtures shared by the whole suite: a migrated PostgreSQL database, Redis, an S3 endpoint, the app.

Isolation: every test that touches PostgreSQL starts from empty platform tables (TRUNCATE after each
test), Redis tests use their own logical database flushed after each test, and every S3 test gets
a fresh bucket. The embedded default (SQLite + local folder) gets a fresh data dir per test.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from mlplatform.kernel.db import PLATFORM_SCHEMA
from mlplatform.kernel.migrations import upgrade
from mlplatform.settings import Settings
from tests.support.moto_server import start_moto_server
from tests.support.services import POSTGRES_ADMIN_URL, REDIS_URL, database_url, missing, reachable

pytest_plugins = ["tests.support.hang_report"]

# Every app a test builds opens its Feast registry port on a free port, not Feast's fixed 6570 (test runs
# side by side would otherwise fight over it); tests of the port read the bound address from the app.
os.environ.setdefault("MLPLATFORM_FEAST_REGISTRY__PORT", "0")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated database for this test session (dropped at the end)."""
    if not reachable(POSTGRES_ADMIN_URL, 5432):
        missing("PostgreSQL", POSTGRES_ADMIN_URL)
    name = f"mlplatform_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_dsn = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg", "postgresql")

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    url = database_url(POSTGRES_ADMIN_URL, name)
    # In a thread: this fixture may be first requested from inside the running test event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, admin(f'CREATE DATABASE "{name}"')).result()
        pool.submit(upgrade, url).result()
    yield url
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')).result()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not reachable(REDIS_URL, 6379):
        missing("Redis", REDIS_URL)
    return REDIS_URL


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with start_moto_server() as endpoint:
        yield endpoint


@pytest.fixture
async def clean_postgres(postgres_url: str) -> AsyncIterator[str]:
    """The session database, emptied after the test."""
    yield postgres_url
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            rows = await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :schema AND tablename <> 'alembic_version'"),
                {"schema": PLATFORM_SCHEMA},
            )
            tables = [f'{PLATFORM_SCHEMA}."{row[0]}"' for row in rows]
            if tables:
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
async def clean_redis(redis_url: str) -> AsyncIterator[str]:
    from redis.asyncio import Redis

    yield redis_url
    client = Redis.from_url(redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture
async def s3_bucket(s3_endpoint: str) -> str:
    import aioboto3

    bucket = f"test-{uuid.uuid4().hex[:12]}"
    async with aioboto3.Session().client("s3", endpoint_url=s3_endpoint, region_name="us-east-1") as client:
        await client.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def settings(clean_postgres: str, clean_redis: str, s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> Settings:
    """Settings for the full stack: real PostgreSQL, Redis and S3 (moto)."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=clean_postgres,
        redis_url=clean_redis,
        storage_url=f"s3://{s3_bucket}/platform",
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
        log_json=False,
    )


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    """Settings for the embedded default: nothing configured but a fresh data dir."""
    return Settings(data_dir=tmp_path / "embedded", log_json=False)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    from mlplatform.app import create_app

    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app) as test_client:
        yield test_client


@pytest.fixture
async def embedded_client(embedded_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    from mlplatform.app import create_app

    async with AsyncTestClient(create_app(embedded_settings)) as test_client:
        yield test_client
