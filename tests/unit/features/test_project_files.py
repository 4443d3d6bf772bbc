"""The files service against a real local object store, and the entity rows a training job may read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mlplatform.kernel.errors import Conflict, Invalid, PayloadTooLarge, Unavailable
from mlplatform.kernel.storage import LocalObjectStore
from mlplatform.modules.features.services import files
from mlplatform.modules.features.services.job_inputs import check_entity_key, entity_rows_key


async def chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size


async def test_a_streamed_upload_over_the_limit_stores_nothing(tmp_path: Path) -> None:
    """No Content-Length (chunked): the limit is enforced on the bytes as they arrive."""
    store = LocalObjectStore(tmp_path)
    with pytest.raises(PayloadTooLarge):
        await files.put_file(store, "p1", "big.bin", chunks(4, 400), max_bytes=1000, announced_bytes=None)
    assert not await store.exists("projects/p1/big.bin")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    stored, created = await files.put_file(store, "p1", "ok.bin", chunks(2, 500), max_bytes=1000, announced_bytes=None)
    assert (stored.path, stored.size, created) == ("ok.bin", 1000, True)
    assert await store.get("projects/p1/ok.bin") == b"x" * 1000


async def test_files_of_another_project_are_not_listed(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    await store.put("projects/p1/a.bin", b"a")
    await store.put("projects/p10/b.bin", b"b")
    await store.put("projects/p1-x/c.bin", b"c")
    page = await files.list_files(store, "p1", None, None, None)
    assert [f.path for f in page.items] == ["a.bin"]


def test_training_jobs_read_entity_rows_only_from_their_project() -> None:
    inline = entity_rows_key("p1", uuid.uuid4())
    assert check_entity_key("p1", inline) == inline
    assert check_entity_key("p1", "projects/p1/inputs/e.parquet") == "projects/p1/inputs/e.parquet"
    for key in (
        entity_rows_key("p2", uuid.uuid4()),
        "projects/p2/inputs/e.parquet",
        "projects/p1/../p2/inputs/e.parquet",
        "features/p1/entity-rows/../../p2/x.parquet",
        "features/p1/entity-rows/not-a-uuid.parquet",
        "features/p1/datasets/" + str(uuid.uuid4()) + ".parquet",
        "mlflow/1/run/artifacts/e.parquet",
        "inputs/p1/e.parquet",
        None,
    ):
        with pytest.raises(Invalid) as refused:
            check_entity_key("p1", key)
        assert refused.value.extra["field"] == "entity_path"


async def test_a_file_where_a_folder_is_is_a_conflict_on_the_local_store(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    await store.put("projects/p1/raw/drivers/part-0.parquet", b"PAR1")
    with pytest.raises(Conflict) as clash:
        await files.put_file(store, "p1", "raw/drivers", chunks(1, 10), max_bytes=1000, announced_bytes=None)
    assert clash.value.extra["field"] == "path"
    assert await store.get("projects/p1/raw/drivers/part-0.parquet") == b"PAR1"


async def test_an_unreachable_object_store_is_a_503_naming_it() -> None:
    from mlplatform.kernel.storage import object_store_from_url

    store = object_store_from_url("s3://bucket/platform", endpoint_url="http://127.0.0.1:9", region="us-east-1")
    try:
        with pytest.raises(Unavailable) as down:
            await files.list_files(store, "p1", None, None, None)
        assert down.value.component == "object-store"
        with pytest.raises(Unavailable):
            await files.put_file(store, "p1", "a.bin", chunks(1, 10), max_bytes=1000, announced_bytes=None)
    finally:
        await store.close()
