"""Object storage for artifacts, feature data and datasets: one protocol, an S3 and a local-folder store.

store = object_store_from_url(settings.resolved_storage_url, endpoint_url=..., region=...)
await store.put("runs/42/model.pkl", data)
async for info in store.list("runs/42/"): ...
await store.close()
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from mlplatform.kernel.storage.base import (
    DEFAULT_CHUNK_SIZE,
    MAX_KEY_BYTES,
    InvalidObjectKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreUnavailable,
    validate_key,
    validate_prefix,
)
from mlplatform.kernel.storage.local import LocalObjectStore

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_KEY_BYTES",
    "InvalidObjectKey",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreUnavailable",
    "object_store_from_url",
    "validate_key",
    "validate_prefix",
]


def object_store_from_url(url: str, *, endpoint_url: str | None = None, region: str | None = None) -> ObjectStore:
    """Build a store from `s3://bucket/prefix`, `file:///abs/path` or a plain folder path.

    `endpoint_url` and `region` only matter for S3. Raises `ValueError` for anything else.
    """
    if not url:
        raise ValueError("object store URL is empty")
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"object store URL {url!r} has no bucket: use s3://bucket/prefix")
        if parts.query or parts.fragment:
            raise ValueError(f"object store URL {url!r} must not have a query or fragment")
        from mlplatform.kernel.storage.s3 import S3ObjectStore  # aioboto3 costs ~0.8 s to import: only for S3

        return S3ObjectStore(parts.netloc, parts.path, endpoint_url=endpoint_url, region=region)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"object store URL {url!r} names a remote host; only local file:/// URLs work")
        return LocalObjectStore(Path(unquote(parts.path)))
    if parts.scheme == "":
        return LocalObjectStore(Path(url))
    raise ValueError(f"unsupported object store URL {url!r}: use s3://bucket/prefix, file:///path or a folder path")
