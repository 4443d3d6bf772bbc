"""Fixtures the end-to-end tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.served import E2E_ADMIN_KEY, served_env


@pytest.fixture
def stack_env(
    clean_postgres: str, clean_redis: str, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> dict[str, str]:
    """The environment of a platform served on the test stack (clean database and Redis, a moto bucket), whose
    admin key is `E2E_ADMIN_KEY`."""
    return served_env(
        tmp_path / "data",
        database_url=clean_postgres,
        redis_url=clean_redis,
        s3_endpoint=s3_endpoint,
        s3_bucket=s3_bucket,
        admin_key=E2E_ADMIN_KEY,
    )
