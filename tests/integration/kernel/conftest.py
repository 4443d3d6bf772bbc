"""Object store fixtures: the same storage tests run against a local folder and a real S3 endpoint.

`s3_endpoint` (a session-wide moto server, see `tests.support.moto_server`) comes from the root
conftest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mlplatform.kernel.storage import LocalObjectStore, ObjectStore
from mlplatform.kernel.storage.s3 import S3ObjectStore
from tests.support.moto_server import temporary_bucket, test_session


@pytest.fixture
async def fresh_bucket(s3_endpoint: str) -> AsyncIterator[str]:
    """A new, empty bucket for this test, removed afterwards."""
    async with temporary_bucket(s3_endpoint) as bucket:
        yield bucket


@pytest.fixture
async def s3_store(s3_endpoint: str, fresh_bucket: str) -> AsyncIterator[S3ObjectStore]:
    store = S3ObjectStore(
        fresh_bucket, "store-root", endpoint_url=s3_endpoint, region="us-east-1", session=test_session()
    )
    yield store
    await store.close()


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


@pytest.fixture(params=["local", "s3"])
async def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    """Each test using this runs once per implementation."""
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects")
        return
    # Looked up lazily so local-only runs never start the S3 server.
    endpoint = request.getfixturevalue("s3_endpoint")
    async with temporary_bucket(endpoint) as bucket:
        store = S3ObjectStore(bucket, "store-root", endpoint_url=endpoint, region="us-east-1", session=test_session())
        try:
            yield store
        finally:
            await store.close()
