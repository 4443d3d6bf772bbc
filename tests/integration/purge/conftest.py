"""The whole platform for purge tests: the full stack (PostgreSQL, Redis, S3 via moto, a real `mlplatform worker`
running the purge job) and the embedded default (SQLite, local folder, jobs in-process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mlplatform.settings import Settings
from tests.integration.features.conftest import _stack, _stack_with_worker
from tests.integration.features.stack import Stack
from tests.support.factories import s3_bucket

PUBLIC = {"public_url": "http://testserver.local"}
"""MLflow's host check accepts the test client's host."""


@pytest.fixture
async def full_platform(
    clean_postgres: str, clean_redis: str, s3_endpoint: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    settings = Settings(
        data_dir=tmp_path / "full",
        database_url=clean_postgres,
        redis_url=clean_redis,
        storage_url=f"s3://{s3_bucket(s3_endpoint, 'features-')}/platform",
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
        server=PUBLIC,
        log_json=False,
    )
    settings.data_dir.mkdir(parents=True)
    async for stack in _stack_with_worker("full", settings):
        yield stack


@pytest.fixture
async def embedded_platform(tmp_path: Path) -> AsyncIterator[Stack]:
    settings = Settings(data_dir=tmp_path / "embedded", server=PUBLIC, log_json=False)
    async for stack in _stack("embedded", settings, None):
        yield stack
