"""Real services for the test suite: PostgreSQL, Redis and an S3 endpoint.

By default a test that needs a service that is not reachable is skipped; with
`MLPLATFORM_TEST_REQUIRE_SERVICES=1` (set by CI) it fails instead.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "MLPLATFORM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("MLPLATFORM_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
REQUIRE_SERVICES = os.environ.get("MLPLATFORM_TEST_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def missing(service: str, url: str) -> None:
    """Skip (developer machine) or fail (CI) because `service` is not reachable."""
    message = f"{service} is not reachable at {url}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and MLPLATFORM_TEST_REQUIRE_SERVICES is set", pytrace=False)
    pytest.skip(message)


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return parts._replace(path=f"/{name}").geturl()
