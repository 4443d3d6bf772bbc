"""What every object store offers: the `ObjectStore` protocol, `ObjectInfo`, key rules and errors."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

MAX_KEY_BYTES = 1024
"""S3's own limit on a key's UTF-8 length; the local store keeps the same one so keys stay portable."""

DEFAULT_CHUNK_SIZE = 1024 * 1024


class InvalidObjectKey(ValueError):
    """A key (or list prefix) breaks the key rules, or cannot be stored under this store's root."""

    def __init__(self, key: object, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"invalid object key {key!r}: {reason}")


class ObjectNotFound(KeyError):
    """No object is stored under the key."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)

    def __str__(self) -> str:
        # KeyError.__str__ would print the repr of its argument only.
        return f"object not found: {self.key!r}"


class ObjectStoreUnavailable(RuntimeError):
    """The store cannot be reached or refuses to work (network, credentials, missing bucket, full disk)."""


def validate_key(key: str) -> str:
    """Return `key` unchanged if it is a valid object key, else raise `InvalidObjectKey`.

    A key is a relative, `/`-separated path of at most 1024 UTF-8 bytes without empty, `.` or `..`
    segments, backslashes or control characters. The rules are the intersection of what S3 and a
    POSIX folder accept safely, so a key valid on one store is valid on the other and can never
    address anything outside the store's root.
    """
    if not isinstance(key, str):
        raise InvalidObjectKey(key, f"must be a string, not {type(key).__name__}")
    if not key:
        raise InvalidObjectKey(key, "must not be empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidObjectKey(key, "is not valid UTF-8 (lone surrogate)") from None
    if size > MAX_KEY_BYTES:
        raise InvalidObjectKey(key, f"is {size} bytes long, the limit is {MAX_KEY_BYTES}")
    if key.startswith("/"):
        raise InvalidObjectKey(key, "must be relative (no leading '/')")
    if "\\" in key:
        raise InvalidObjectKey(key, "must use '/' as separator (no backslash)")
    for char in key:
        if unicodedata.category(char) == "Cc":
            raise InvalidObjectKey(key, f"must not contain control character U+{ord(char):04X}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            shown = repr(segment) if segment else "an empty"
            raise InvalidObjectKey(key, f"must not contain {shown} path segment")
    return key


def validate_prefix(prefix: str) -> str:
    """Validate a list prefix: empty (everything), or a key's leading part, optionally ending in `/`.

    Like S3, a prefix need not end at a segment boundary: `runs/ab` matches `runs/abc/x`.
    """
    if prefix == "":
        return prefix
    if prefix.startswith("/"):
        raise InvalidObjectKey(prefix, "must be relative (no leading '/')")
    try:
        validate_key(prefix.removesuffix("/"))
    except InvalidObjectKey as exc:
        raise InvalidObjectKey(prefix, exc.reason) from None
    return prefix


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime
    """Timezone-aware (UTC)."""


@runtime_checkable
class ObjectStore(Protocol):
    """Artifacts, feature data and datasets live behind this interface.

    Keys are store-relative (see `validate_key`); the store maps them under its root. Every operation
    can raise `InvalidObjectKey` for a bad key and `ObjectStoreUnavailable` when the backing storage
    cannot be used. A store belongs to the event loop that first uses it; `close()` releases
    connections (a no-op for the local store), and `start()` opens them eagerly (optional).
    """

    root_uri: str
    """URI of the store's root (`s3://bucket/prefix`, `file:///abs/path`), for Feast, MLflow and users."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store `data` under `key`, replacing any previous object atomically."""
        ...

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], content_type: str | None = None) -> None:
        """Store the concatenated `chunks` without holding them all in memory (multipart on S3).

        If `chunks` raises, nothing is stored and the exception propagates.
        """
        ...

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Upload a local file (streamed, multipart on S3 when large)."""
        ...

    async def get(self, key: str) -> bytes:
        """Return the whole object; raise `ObjectNotFound` if missing."""
        ...

    def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        """Yield the object in chunks of `chunk_size` bytes (the last may be shorter).

        `ObjectNotFound` is raised on the first iteration. Stop early with `contextlib.aclosing`
        so the underlying file or connection is released promptly.
        """
        ...

    async def download_file(self, key: str, path: Path) -> None:
        """Write the object to `path` atomically (parents created); raise `ObjectNotFound` if missing."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing object is not an error."""
        ...

    def list(self, prefix: str = "") -> AsyncGenerator[ObjectInfo, None]:
        """Yield the objects whose key starts with `prefix`, in key (UTF-8 byte) order."""
        ...

    def url_for(self, key: str) -> str:
        """The URI of an object (`s3://bucket/prefix/key`, `file:///abs/path`); no I/O."""
        ...

    async def check(self) -> None:
        """Health probe: return if the store is usable, raise `ObjectStoreUnavailable` if not."""
        ...
