"""The project's files: what a project keeps in its folder of the object store (`projects/<project>/`).

This is how parquet data reaches the places parquet sources and `entity_path` name: every path goes
through `project_key`, so a project's members reach their own folder and nothing else. Uploads are
streamed to the store (multipart on S3) under a size limit; a refused or interrupted upload stores
nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator

from mlplatform.kernel.errors import Conflict, Invalid, NotFound, PayloadTooLarge, Unavailable
from mlplatform.kernel.storage import InvalidObjectKey, ObjectNotFound, ObjectStore, ObjectStoreUnavailable
from mlplatform.kernel.storage.project_paths import InvalidPath, project_key, project_prefix, relative_path
from mlplatform.modules.features import schemas

MAX_LIST = 1000
DEFAULT_LIST = 100


def file_key(project: str, path: str, field: str = "path") -> str:
    """The store key of a user path, or a 422 naming `field`."""
    try:
        return project_key(project, path)
    except InvalidPath as exc:
        raise Invalid(f"{field}: {exc.reason}", field=field) from None


@contextlib.contextmanager
def store_errors(path: str) -> Iterator[None]:
    """The object store's failures as platform errors (503 naming it when it is down)."""
    try:
        yield
    except ObjectStoreUnavailable as exc:
        raise Unavailable(f"the object store is unavailable: {exc}", component="object-store") from None
    except InvalidObjectKey as exc:  # the path passed the rules: only a file/folder clash is left
        raise Conflict(f"path: {path!r} {exc.reason}", field="path") from None


async def put_file(
    store: ObjectStore,
    project: str,
    path: str,
    chunks: AsyncIterable[bytes],
    *,
    max_bytes: int,
    announced_bytes: int | None,
) -> tuple[schemas.ProjectFile, bool]:
    """Store the upload at `path`; returns the file and whether it was created (False: replaced)."""
    key = file_key(project, path)
    if announced_bytes is not None and announced_bytes > max_bytes:
        raise PayloadTooLarge(f"the file is {announced_bytes} bytes, the limit is {max_bytes}")
    received = 0

    async def limited() -> AsyncIterator[bytes]:
        nonlocal received
        async for chunk in chunks:
            received += len(chunk)
            if received > max_bytes:
                raise PayloadTooLarge(f"the file is larger than the limit of {max_bytes} bytes")
            if chunk:
                yield chunk

    with store_errors(path):
        existed = await store.exists(key)
        await store.put_stream(key, limited())
    return schemas.ProjectFile(path=relative_path(project, key), size=received), not existed


async def open_file(store: ObjectStore, project: str, path: str) -> AsyncGenerator[bytes, None]:
    """The file's content in chunks; 404 before anything is sent when it does not exist."""
    key = file_key(project, path)
    chunks = store.stream(key)
    try:
        with store_errors(path):
            first = await anext(chunks, b"")
    except ObjectNotFound:
        await chunks.aclose()
        raise NotFound(f"no file at {path!r} in project {project!r}") from None
    except BaseException:
        await chunks.aclose()
        raise

    async def body() -> AsyncGenerator[bytes, None]:
        async with contextlib.aclosing(chunks):
            if first:
                yield first
            async for chunk in chunks:
                yield chunk

    return body()


async def delete_file(store: ObjectStore, project: str, path: str) -> None:
    key = file_key(project, path)
    with store_errors(path):
        if not await store.exists(key):
            raise NotFound(f"no file at {path!r} in project {project!r}")
        await store.delete(key)


async def list_files(
    store: ObjectStore, project: str, prefix: str | None, cursor: str | None, limit: int | None
) -> schemas.ProjectFilePage:
    """Files whose path starts with `prefix` (need not end at a `/`), in path order, after `cursor`."""
    if prefix:
        key_prefix = file_key(project, prefix, "prefix") + ("/" if prefix.endswith("/") else "")
    else:
        key_prefix = project_prefix(project)
    size = min(limit or DEFAULT_LIST, MAX_LIST)
    items: list[schemas.ProjectFile] = []
    next_cursor = None
    with store_errors(prefix or ""):
        async with contextlib.aclosing(store.list(key_prefix)) as listing:
            async for info in listing:
                path = relative_path(project, info.key)
                if cursor is not None and path.encode() <= cursor.encode():
                    continue
                if len(items) == size:
                    next_cursor = items[-1].path
                    break
                items.append(schemas.ProjectFile(path=path, size=info.size, last_modified=info.last_modified))
    return schemas.ProjectFilePage(items=items, next_cursor=next_cursor)
