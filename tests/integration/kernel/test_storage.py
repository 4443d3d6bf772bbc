"""ObjectStore contract, run on both implementations, plus what is specific to each."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aioboto3
import pytest

from mlplatform.kernel.storage import (
    InvalidObjectKey,
    LocalObjectStore,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreUnavailable,
    object_store_from_url,
    validate_key,
)
from mlplatform.kernel.storage.s3 import S3ObjectStore
from tests.support.moto_server import free_port

MiB = 1024 * 1024
LARGE = 12 * MiB

BAD_KEYS = [
    pytest.param("", id="empty"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("../escape", id="dotdot-leading"),
    pytest.param("a/../../escape", id="dotdot-inner"),
    pytest.param("..", id="dotdot-alone"),
    pytest.param("a/./b", id="dot-segment"),
    pytest.param(".", id="dot-alone"),
    pytest.param("a//b", id="empty-segment"),
    pytest.param("a/", id="trailing-slash"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("..\\escape", id="backslash-dotdot"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\x7fb", id="del"),
    pytest.param("a\x85b", id="c1-control"),
    pytest.param("k" * 1025, id="too-long-ascii"),
    pytest.param("é" * 513, id="too-long-utf8"),
    pytest.param("a\udcffb", id="lone-surrogate"),
]


def payload(size: int) -> bytes:
    """Deterministic, incompressible-looking bytes (a hash chain), so chunking bugs show."""
    block = hashlib.sha256(b"seed").digest()
    out = bytearray()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def collect(store: ObjectStore, prefix: str = "") -> list[ObjectInfo]:
    return [info async for info in store.list(prefix)]


# -- the contract, on both stores ------------------------------------------------------------------


async def test_bytes_round_trip(object_store: ObjectStore) -> None:
    await object_store.put("models/m1/model.json", b'{"a": 1}', content_type="application/json")
    assert await object_store.get("models/m1/model.json") == b'{"a": 1}'

    await object_store.put("models/m1/model.json", b"replaced")
    assert await object_store.get("models/m1/model.json") == b"replaced"

    await object_store.put("empty", b"")
    assert await object_store.get("empty") == b""
    assert [chunk async for chunk in object_store.stream("empty")] == []


async def test_unicode_and_odd_but_valid_keys(object_store: ObjectStore) -> None:
    keys = ["données/été.parquet", "with space/and+plus=eq", "a/b.c/..d/...", "~tilde/.hidden"]
    for key in keys:
        await object_store.put(key, key.encode())
    for key in keys:
        assert await object_store.get(key) == key.encode()
    assert sorted(info.key for info in await collect(object_store)) == sorted(keys)


async def test_file_round_trip(object_store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(payload(300_000))
    await object_store.put_file("datasets/d1/part-0.parquet", source)

    target = tmp_path / "downloads" / "nested" / "copy.bin"
    await object_store.download_file("datasets/d1/part-0.parquet", target)
    assert target.read_bytes() == source.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["copy.bin"]  # no temp file left behind


async def test_large_object_streams_both_ways(object_store: ObjectStore, tmp_path: Path) -> None:
    data = payload(LARGE)
    source = tmp_path / "large.bin"
    source.write_bytes(data)

    await object_store.put_file("large/from-file", source)
    await object_store.put_stream("large/from-stream", chunked(data, 256 * 1024))

    for key in ("large/from-file", "large/from-stream"):
        digest = hashlib.sha256()
        sizes = []
        async for chunk in object_store.stream(key, chunk_size=MiB):
            digest.update(chunk)
            sizes.append(len(chunk))
        assert digest.digest() == hashlib.sha256(data).digest()
        assert sizes == [MiB] * 12  # exact chunk sizes, whatever the transport delivers

        target = tmp_path / f"{key.replace('/', '-')}.out"
        await object_store.download_file(key, target)
        assert target.stat().st_size == LARGE
        assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()

    infos = {info.key: info.size for info in await collect(object_store, "large/")}
    assert infos == {"large/from-file": LARGE, "large/from-stream": LARGE}


async def test_stream_can_stop_early(object_store: ObjectStore) -> None:
    await object_store.put("big", payload(3 * MiB))
    async with aclosing(object_store.stream("big", chunk_size=MiB)) as chunks:
        async for chunk in chunks:
            assert len(chunk) == MiB
            break
    assert await object_store.exists("big")


async def test_failed_stream_upload_stores_nothing(object_store: ObjectStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield payload(9 * MiB)  # past the multipart threshold on S3
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        await object_store.put_stream("half/written", broken())
    assert not await object_store.exists("half/written")
    assert await collect(object_store) == []


async def test_list_by_prefix(object_store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    for key in ["runs/1/a.txt", "runs/1/sub/b.txt", "runs/10/c.txt", "runs/2/d.txt", "runsx", "other/e.txt"]:
        await object_store.put(key, key.encode())

    everything = await collect(object_store)
    assert [info.key for info in everything] == [
        "other/e.txt",
        "runs/1/a.txt",
        "runs/1/sub/b.txt",
        "runs/10/c.txt",
        "runs/2/d.txt",
        "runsx",
    ]
    assert all(info.size == len(info.key) for info in everything)
    assert all(info.last_modified.tzinfo is not None and info.last_modified > before for info in everything)

    assert [i.key for i in await collect(object_store, "runs/1/")] == ["runs/1/a.txt", "runs/1/sub/b.txt"]
    assert [i.key for i in await collect(object_store, "runs/1")] == [
        "runs/1/a.txt",
        "runs/1/sub/b.txt",
        "runs/10/c.txt",
    ]
    assert [i.key for i in await collect(object_store, "runs")] == [
        "runs/1/a.txt",
        "runs/1/sub/b.txt",
        "runs/10/c.txt",
        "runs/2/d.txt",
        "runsx",
    ]
    assert [i.key for i in await collect(object_store, "runs/1/sub/b.txt")] == ["runs/1/sub/b.txt"]
    assert await collect(object_store, "nothing/") == []
    assert await collect(object_store, "runs/3") == []


async def test_exists_and_delete_are_idempotent(object_store: ObjectStore) -> None:
    assert not await object_store.exists("a/b")
    await object_store.delete("a/b")  # deleting what never existed is fine

    await object_store.put("a/b", b"x")
    assert await object_store.exists("a/b")
    assert not await object_store.exists("a")  # a prefix is not an object

    await object_store.delete("a/b")
    await object_store.delete("a/b")
    assert not await object_store.exists("a/b")
    assert await collect(object_store) == []

    await object_store.put("a", b"an object named like the former prefix")
    assert await object_store.get("a") == b"an object named like the former prefix"


async def test_missing_object(object_store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        await object_store.get("no/such/object")
    assert isinstance(caught.value, KeyError)
    assert caught.value.key == "no/such/object"
    assert str(caught.value) == "object not found: 'no/such/object'"

    with pytest.raises(ObjectNotFound):
        async for _ in object_store.stream("no/such/object"):
            pass

    target = tmp_path / "out" / "missing.bin"
    with pytest.raises(ObjectNotFound):
        await object_store.download_file("no/such/object", target)
    assert not target.exists()

    await object_store.put("file", b"x")
    with pytest.raises(ObjectNotFound):
        await object_store.get("file/below")


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_rejected(object_store: ObjectStore, key: str, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"x")
    operations = [
        object_store.put(key, b"x"),
        object_store.put_file(key, source),
        object_store.put_stream(key, chunked(b"x", 1)),
        object_store.get(key),
        object_store.download_file(key, tmp_path / "dst"),
        object_store.exists(key),
        object_store.delete(key),
    ]
    for operation in operations:
        with pytest.raises(InvalidObjectKey):
            await operation
    with pytest.raises(InvalidObjectKey):
        async for _ in object_store.stream(key):
            pass
    with pytest.raises(InvalidObjectKey):
        object_store.url_for(key)
    assert not (tmp_path / "dst").exists()
    assert await collect(object_store) == []


@pytest.mark.parametrize("prefix", ["/", "/abs", "../", "a/../", "a//", "a\\", "a\x00"])
async def test_bad_list_prefixes_rejected(object_store: ObjectStore, prefix: str) -> None:
    with pytest.raises(InvalidObjectKey):
        await collect(object_store, prefix)


async def test_check_passes(object_store: ObjectStore) -> None:
    await object_store.check()


# -- key rules ---------------------------------------------------------------------------------------


def test_validate_key_accepts_and_explains() -> None:
    for key in ["a", "a/b/c.txt", "é" * 512, "k" * 1024, "a..b/.c/d.", "x y/z"]:
        assert validate_key(key) == key
    with pytest.raises(InvalidObjectKey, match=r"invalid object key '\.\./x': must not contain '\.\.' path segment"):
        validate_key("../x")
    with pytest.raises(ValueError, match="must be relative"):
        validate_key("/x")
    with pytest.raises(InvalidObjectKey, match="U\\+0000"):
        validate_key("a\x00")


# -- local store -------------------------------------------------------------------------------------


async def test_local_symlink_escape_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    root = tmp_path / "objects"
    root.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "leak").symlink_to(outside / "secret")
    (root / "inside-target").write_bytes(b"fine")
    (root / "inside-link").symlink_to(root / "inside-target")
    store = LocalObjectStore(root)

    for key in ("escape/secret", "leak"):
        with pytest.raises(InvalidObjectKey, match="outside the store root"):
            await store.get(key)
        with pytest.raises(InvalidObjectKey, match="outside the store root"):
            await store.exists(key)
        with pytest.raises(InvalidObjectKey, match="outside the store root"):
            await store.delete(key)
    with pytest.raises(InvalidObjectKey, match="outside the store root"):
        await store.put("escape/planted", b"x")
    with pytest.raises(InvalidObjectKey, match="outside the store root"):
        await collect(store, "escape/")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_bytes() == b"secret"

    assert await store.get("inside-link") == b"fine"  # links that stay inside are fine
    assert [info.key for info in await collect(store)] == ["inside-link", "inside-target"]


async def test_local_writes_are_atomic_files(local_store: LocalObjectStore) -> None:
    await local_store.put("x/y", b"1")
    await local_store.put_stream("x/z", chunked(b"2" * 10, 3))
    folder = local_store.root / "x"
    assert sorted(p.name for p in folder.iterdir()) == ["y", "z"]  # no temp files left
    with pytest.raises(InvalidObjectKey, match="reserved"):
        await local_store.put("x/.mlp-tmp-123", b"x")


async def test_local_object_and_prefix_conflict(local_store: LocalObjectStore) -> None:
    await local_store.put("a", b"object")
    with pytest.raises(InvalidObjectKey, match="conflicts"):
        await local_store.put("a/b", b"below an object")
    await local_store.put("c/d", b"x")
    with pytest.raises(InvalidObjectKey, match="conflicts"):
        await local_store.put("c", b"over a prefix")


async def test_local_check_creates_root_and_reports_problems(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "new" / "root")
    await store.check()
    assert (tmp_path / "new" / "root").is_dir()

    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with pytest.raises(ObjectStoreUnavailable):
        await LocalObjectStore(blocker / "root").check()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
async def test_local_unwritable_root_is_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        store = LocalObjectStore(root)
        with pytest.raises(ObjectStoreUnavailable):
            await store.check()
        with pytest.raises(ObjectStoreUnavailable):
            await store.put("x", b"x")
    finally:
        root.chmod(0o700)


# -- S3 store ----------------------------------------------------------------------------------------


async def test_s3_large_upload_is_multipart(s3_store: S3ObjectStore, s3_endpoint: str) -> None:
    await s3_store.put_stream("big", chunked(payload(LARGE), MiB), content_type="application/octet-stream")
    await s3_store.put("small", b"small", content_type="text/plain")
    async with aioboto3.Session().client("s3", endpoint_url=s3_endpoint, region_name="us-east-1") as client:
        big = await client.head_object(Bucket=s3_store.bucket, Key="store-root/big")
        small = await client.head_object(Bucket=s3_store.bucket, Key="store-root/small")
    assert big["ETag"].strip('"').endswith("-2")  # 8 MiB + 4 MiB parts
    assert big["ContentLength"] == LARGE
    assert "-" not in small["ETag"]
    assert small["ContentType"] == "text/plain"


async def test_s3_failed_multipart_upload_is_aborted(s3_store: S3ObjectStore, s3_endpoint: str) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield payload(17 * MiB)
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        await s3_store.put_stream("aborted", broken())
    async with aioboto3.Session().client("s3", endpoint_url=s3_endpoint, region_name="us-east-1") as client:
        uploads = await client.list_multipart_uploads(Bucket=s3_store.bucket)
    assert uploads.get("Uploads", []) == []


async def test_s3_prefixes_isolate_stores(s3_endpoint: str, fresh_bucket: str) -> None:
    first = S3ObjectStore(fresh_bucket, "team-a", endpoint_url=s3_endpoint)
    second = S3ObjectStore(fresh_bucket, "/team-b/", endpoint_url=s3_endpoint)
    whole = S3ObjectStore(fresh_bucket, endpoint_url=s3_endpoint)
    try:
        await first.put("k", b"a")
        await second.put("k", b"b")
        assert await first.get("k") == b"a"
        assert await second.get("k") == b"b"
        assert [info.key for info in await collect(whole)] == ["team-a/k", "team-b/k"]
        assert [info.key for info in await collect(second)] == ["k"]
    finally:
        for store in (first, second, whole):
            await store.close()


async def test_s3_missing_bucket_is_unavailable(s3_endpoint: str) -> None:
    store = S3ObjectStore("no-such-bucket-here", endpoint_url=s3_endpoint)
    try:
        with pytest.raises(ObjectStoreUnavailable, match="does not exist"):
            await store.check()
        with pytest.raises(ObjectStoreUnavailable, match="does not exist"):
            await store.get("k")
        with pytest.raises(ObjectStoreUnavailable, match="does not exist"):
            await store.put("k", b"x")
    finally:
        await store.close()


async def test_s3_unreachable_endpoint_fails_fast() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3ObjectStore("bucket", endpoint_url=endpoint, region="us-east-1", connect_timeout=0.5, max_attempts=1)
    started = time.monotonic()
    try:
        with pytest.raises(ObjectStoreUnavailable, match="unreachable") as caught:
            await store.check()
        assert endpoint in str(caught.value)
        with pytest.raises(ObjectStoreUnavailable):
            await store.get("k")
        with pytest.raises(ObjectStoreUnavailable):
            await store.put("k", b"x")
        with pytest.raises(ObjectStoreUnavailable):
            await collect(store)
        with pytest.raises(ObjectStoreUnavailable):
            await store.exists("k")
    finally:
        await store.close()
    assert time.monotonic() - started < 3


# -- URIs and the factory ----------------------------------------------------------------------------


def test_url_for_shapes(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path / "my objects")
    assert local.root_uri == (tmp_path / "my objects").as_uri()
    assert local.url_for("runs/1/model.pkl") == (tmp_path / "my objects" / "runs/1/model.pkl").as_uri()
    assert local.url_for("a b").startswith("file:///")
    assert local.url_for("a b").endswith("/my%20objects/a%20b")

    s3 = S3ObjectStore("bucket", "platform/artifacts")
    assert s3.root_uri == "s3://bucket/platform/artifacts"
    assert s3.url_for("runs/1/model.pkl") == "s3://bucket/platform/artifacts/runs/1/model.pkl"
    bare = S3ObjectStore("bucket")
    assert bare.root_uri == "s3://bucket"
    assert bare.url_for("k") == "s3://bucket/k"


def test_object_store_from_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = object_store_from_url("s3://data/platform/objects", endpoint_url="http://minio:9000", region="eu-west-1")
    assert isinstance(s3, S3ObjectStore)
    assert (s3.bucket, s3.prefix, s3.endpoint_url, s3.region) == (
        "data",
        "platform/objects",
        "http://minio:9000",
        "eu-west-1",
    )
    assert s3.root_uri == "s3://data/platform/objects"
    assert object_store_from_url("s3://data").root_uri == "s3://data"
    assert object_store_from_url("s3://data/").root_uri == "s3://data"

    from_uri = object_store_from_url((tmp_path / "a b").as_uri())
    assert isinstance(from_uri, LocalObjectStore)
    assert from_uri.root == tmp_path / "a b"

    plain = object_store_from_url(str(tmp_path / "plain"))
    assert isinstance(plain, LocalObjectStore)
    assert plain.root_uri == (tmp_path / "plain").as_uri()

    monkeypatch.chdir(tmp_path)
    relative = object_store_from_url("relative/objects")
    assert isinstance(relative, LocalObjectStore)
    assert relative.root == tmp_path / "relative" / "objects"
    assert isinstance(relative, ObjectStore)
    assert isinstance(s3, ObjectStore)

    bad_urls = {
        "": "empty",
        "s3://": "no bucket",
        "s3:///prefix": "no bucket",
        "gs://bucket/x": "unsupported",
        "http://host/x": "unsupported",
        "file://remote-host/x": "remote host",
        "s3://b/a//c": "empty path segment",
    }
    for url, reason in bad_urls.items():
        with pytest.raises(ValueError, match=reason):
            object_store_from_url(url)
