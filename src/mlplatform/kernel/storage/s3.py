"""`S3ObjectStore`: objects in an S3 bucket (AWS, MinIO, moto, any S3-compatible service) via aioboto3.

Connection lifecycle: one `aioboto3.Session` and one client per store. The client (and its HTTP
connection pool) is opened on first use, or eagerly by `start()`, and kept until `close()`: opening a
client per operation would cost a new connection pool and TLS handshake every time. The store is
bound to the event loop that opened the client. Credentials come from the usual `AWS_*` environment
variables (or any other source botocore knows).

Large uploads (`put_stream`, `put_file`) switch to multipart once `multipart_threshold` bytes have
arrived, uploading up to `max_concurrency` parts of `part_size` bytes at once; memory stays bounded
by about `(max_concurrency + 1) * part_size`. A failed multipart upload is aborted; if even the abort
fails the parts linger, so buckets should carry an "abort incomplete multipart uploads" lifecycle rule.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import aioboto3
import aiohttp
import anyio
from aiobotocore.config import AioConfig
from anyio import to_thread
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from mlplatform.kernel.storage._files import commit, discard, open_temp_beside
from mlplatform.kernel.storage.base import (
    DEFAULT_CHUNK_SIZE,
    MAX_KEY_BYTES,
    InvalidObjectKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStoreUnavailable,
    validate_key,
    validate_prefix,
)

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB
"""S3 rejects multipart parts smaller than this (except the last)."""

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})


class S3ObjectStore:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 3,
        multipart_threshold: int = 8 * MiB,
        part_size: int = 8 * MiB,
        max_concurrency: int = 4,
        session: aioboto3.Session | None = None,
    ) -> None:
        """`max_attempts` counts the first try (botocore "standard" retry mode); 1 disables retries.

        With a custom `endpoint_url` (MinIO, moto) path-style addressing is used and checksums are
        only sent where S3 requires them, which S3-compatible services handle best.
        """
        if not bucket or "/" in bucket:
            raise ValueError(f"invalid bucket name {bucket!r}")
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        if multipart_threshold <= 0 or max_concurrency <= 0:
            raise ValueError("multipart_threshold and max_concurrency must be positive")
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.region = region
        self.root_uri = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self._key_prefix = f"{prefix}/" if prefix else ""
        self._multipart_threshold = multipart_threshold
        self._part_size = part_size
        self._max_concurrency = max_concurrency
        options: dict[str, Any] = {
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "retries": {"mode": "standard", "total_max_attempts": max_attempts},
            "max_pool_connections": max(10, 2 * max_concurrency),
        }
        if endpoint_url:
            options |= {
                "s3": {"addressing_style": "path"},
                "request_checksum_calculation": "when_required",
                "response_checksum_validation": "when_required",
            }
        self._config = AioConfig(**options)
        self._session = session or aioboto3.Session()
        self._client: Any = None
        self._exit_stack: AsyncExitStack | None = None
        self._client_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"S3ObjectStore({self.root_uri!r}, endpoint_url={self.endpoint_url!r})"

    async def start(self) -> None:
        await self._get_client()

    async def close(self) -> None:
        stack, self._exit_stack, self._client = self._exit_stack, None, None
        if stack is not None:
            await stack.aclose()

    def url_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        full = self._full(key)
        client = await self._get_client()
        with self._translate(key):
            await client.put_object(Bucket=self.bucket, Key=full, Body=data, **_content_type(content_type))

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], content_type: str | None = None) -> None:
        full = self._full(key)
        client = await self._get_client()
        buffer = bytearray()
        upload: _MultipartUpload | None = None
        try:
            async for chunk in chunks:
                buffer += chunk
                if upload is None and len(buffer) >= self._multipart_threshold:
                    upload = _MultipartUpload(self, client, key, full)
                    await upload.begin(content_type)
                while upload is not None and len(buffer) >= self._part_size:
                    part = bytes(buffer[: self._part_size])
                    del buffer[: self._part_size]
                    await upload.add(part)
            if upload is None:
                with self._translate(key):
                    await client.put_object(
                        Bucket=self.bucket, Key=full, Body=bytes(buffer), **_content_type(content_type)
                    )
                return
            if buffer or not upload.started_parts:
                await upload.add(bytes(buffer))
            await upload.complete()
        except BaseException:
            if upload is not None:
                await upload.abort()
            raise

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        self._full(key)
        async with await anyio.open_file(path, "rb") as file:

            async def chunks() -> AsyncGenerator[bytes, None]:
                while chunk := await file.read(self._part_size):
                    yield chunk

            await self.put_stream(key, chunks(), content_type)

    async def get(self, key: str) -> bytes:
        full = self._full(key)
        client = await self._get_client()
        with self._translate(key):
            response = await client.get_object(Bucket=self.bucket, Key=full)
            body = response["Body"]
            async with body:  # entering yields the raw aiohttp response: keep using the wrapper
                data: bytes = await body.read()
        return data

    async def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        full = self._full(key)
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        client = await self._get_client()
        with self._translate(key):
            response = await client.get_object(Bucket=self.bucket, Key=full)
            body = response["Body"]
            async with body:
                while chunk := await _read_up_to(body, chunk_size):
                    yield chunk

    async def download_file(self, key: str, path: Path) -> None:
        full = self._full(key)
        client = await self._get_client()
        with self._translate(key):
            response = await client.get_object(Bucket=self.bucket, Key=full)
            body = response["Body"]
            async with body:
                tmp, file = await to_thread.run_sync(open_temp_beside, path)
                try:
                    while chunk := await _read_up_to(body, DEFAULT_CHUNK_SIZE):
                        await to_thread.run_sync(file.write, chunk)
                    await to_thread.run_sync(commit, file, tmp, path)
                except BaseException:
                    discard(file, tmp)
                    raise

    async def exists(self, key: str) -> bool:
        full = self._full(key)
        client = await self._get_client()
        try:
            with self._translate(key):
                await client.head_object(Bucket=self.bucket, Key=full)
        except ObjectNotFound:
            return False
        return True

    async def delete(self, key: str) -> None:
        full = self._full(key)
        client = await self._get_client()
        with self._translate(key):
            await client.delete_object(Bucket=self.bucket, Key=full)

    async def list(self, prefix: str = "") -> AsyncGenerator[ObjectInfo, None]:
        """Keys under the store prefix that are not valid object keys (written by others) are skipped."""
        validate_prefix(prefix)
        client = await self._get_client()
        paginator = client.get_paginator("list_objects_v2")
        strip = len(self._key_prefix)
        with self._translate(None):
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key_prefix + prefix):
                for item in page.get("Contents", ()):
                    key = item["Key"][strip:]
                    if _is_valid_key(key):
                        yield ObjectInfo(key=key, size=item["Size"], last_modified=item["LastModified"].astimezone(UTC))

    async def check(self) -> None:
        client = await self._get_client()
        try:
            with self._translate(None):
                await client.head_bucket(Bucket=self.bucket)
        except ObjectNotFound:
            raise ObjectStoreUnavailable(f"bucket {self.bucket!r} does not exist at {self._where}") from None

    # -- helpers -----------------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return self.endpoint_url or "AWS S3"

    def _full(self, key: str) -> str:
        full = self._key_prefix + validate_key(key)
        if len(full.encode("utf-8")) > MAX_KEY_BYTES:
            raise InvalidObjectKey(key, f"is too long once prefixed with {self._key_prefix!r}")
        return full

    async def _get_client(self) -> Any:
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    stack = AsyncExitStack()
                    with self._translate(None):
                        client_context = self._session.client(
                            "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=self._config
                        )
                        self._client = await stack.enter_async_context(client_context)
                    self._exit_stack = stack
        return self._client

    @contextmanager
    def _translate(self, key: str | None) -> Iterator[None]:
        """Map botocore/aiohttp failures onto `ObjectNotFound` and `ObjectStoreUnavailable`."""
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "NoSuchBucket":
                raise ObjectStoreUnavailable(f"bucket {self.bucket!r} does not exist at {self._where}") from exc
            if code in _NOT_FOUND_CODES:
                raise ObjectNotFound(key or "") from None
            message = error.get("Message") or exc
            raise ObjectStoreUnavailable(f"S3 at {self._where} refused the request: {code}: {message}") from exc
        except ParamValidationError:
            raise
        except (BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
            raise ObjectStoreUnavailable(f"S3 at {self._where} is unreachable: {exc}") from exc


class _MultipartUpload:
    """One multipart upload: parts go up concurrently (bounded) and are completed in order."""

    def __init__(self, store: S3ObjectStore, client: Any, key: str, full_key: str) -> None:
        self._store = store
        self._client = client
        self._key = key
        self._ids = {"Bucket": store.bucket, "Key": full_key}
        self._upload_id: str | None = None
        self._etags: dict[int, str] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self.started_parts = 0

    async def begin(self, content_type: str | None) -> None:
        with self._store._translate(self._key):
            response = await self._client.create_multipart_upload(**self._ids, **_content_type(content_type))
        self._upload_id = response["UploadId"]

    async def add(self, data: bytes) -> None:
        while len(self._pending) >= self._store._max_concurrency:
            await self._wait(asyncio.FIRST_COMPLETED)
        self.started_parts += 1
        self._pending.add(asyncio.create_task(self._upload(self.started_parts, data)))

    async def complete(self) -> None:
        while self._pending:
            await self._wait(asyncio.ALL_COMPLETED)
        parts = [{"PartNumber": number, "ETag": etag} for number, etag in sorted(self._etags.items())]
        with self._store._translate(self._key):
            await self._client.complete_multipart_upload(
                **self._ids, UploadId=self._upload_id, MultipartUpload={"Parts": parts}
            )

    async def abort(self) -> None:
        """Cancel outstanding parts and abort the upload; never raises (the original error matters)."""
        for task in self._pending:
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        self._pending.clear()
        if self._upload_id is not None:
            abort = self._client.abort_multipart_upload(**self._ids, UploadId=self._upload_id)
            # Shielded: if this task is cancelled again, the abort still completes in the background.
            with contextlib.suppress(Exception):
                await asyncio.shield(abort)

    async def _upload(self, number: int, data: bytes) -> None:
        with self._store._translate(self._key):
            response = await self._client.upload_part(
                **self._ids, UploadId=self._upload_id, PartNumber=number, Body=data
            )
        self._etags[number] = response["ETag"]

    async def _wait(self, when: str) -> None:
        done, self._pending = await asyncio.wait(self._pending, return_when=when)
        # Retrieve every finished task's error (no "exception never retrieved"), raise the first.
        errors = [error for task in done if not task.cancelled() and (error := task.exception()) is not None]
        if errors:
            raise errors[0]


async def _read_up_to(body: Any, size: int) -> bytes:
    """Read `size` bytes from a response body, fewer only at its end (aiohttp returns what it has)."""
    first = await body.read(size)
    if len(first) == size or not first:
        return bytes(first)
    buffer = bytearray(first)
    while len(buffer) < size and (piece := await body.read(size - len(buffer))):
        buffer += piece
    return bytes(buffer)


def _content_type(content_type: str | None) -> dict[str, str]:
    return {"ContentType": content_type} if content_type else {}


def _is_valid_key(key: str) -> bool:
    try:
        validate_key(key)
    except InvalidObjectKey:
        return False
    return True
