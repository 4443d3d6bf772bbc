"""`LocalObjectStore`: objects as files under a folder, the embedded default.

All blocking file work runs in worker threads (`anyio.to_thread.run_sync`). Keys map to paths
below the root; every path is resolved (symbolic links included) and must stay inside the root.
A folder cannot hold an object and a prefix of the same name (`a` and `a/b`): such a write raises
`InvalidObjectKey`. Content types are accepted for interface parity and not stored.
"""

from __future__ import annotations

import builtins
import os
import shutil
import stat
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

from anyio import to_thread

from mlplatform.kernel.storage._files import TMP_PREFIX, commit, discard, open_temp_beside
from mlplatform.kernel.storage.base import (
    DEFAULT_CHUNK_SIZE,
    InvalidObjectKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStoreUnavailable,
    validate_key,
    validate_prefix,
)

T = TypeVar("T")

_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)
_CONFLICT = (FileExistsError, NotADirectoryError, IsADirectoryError)


@contextmanager
def _os_errors(key: str, action: str) -> Iterator[None]:
    """Turn the remaining OS errors (permissions, full or read-only disk, I/O) into unavailability."""
    try:
        yield
    except OSError as exc:
        raise ObjectStoreUnavailable(f"local object store cannot {action} {key!r}: {exc.strerror or exc}") from exc


@contextmanager
def _reading(key: str) -> Iterator[None]:
    with _os_errors(key, "read"):
        try:
            yield
        except _MISSING:
            raise ObjectNotFound(key) from None


@contextmanager
def _writing(key: str) -> Iterator[None]:
    with _os_errors(key, "write"):
        try:
            yield
        except _CONFLICT as exc:
            raise InvalidObjectKey(
                key, "conflicts with an existing object or prefix (a folder cannot hold both 'a' and 'a/b')"
            ) from exc


def _check_chunk_size(chunk_size: int) -> None:
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")


class LocalObjectStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().absolute()
        self.root_uri = self.root.as_uri()
        self._real_root = os.path.realpath(self.root)
        self._inside_prefix = self._real_root.rstrip(os.sep) + os.sep

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    async def start(self) -> None:
        """Nothing to open; present for interface parity."""

    async def close(self) -> None:
        """Nothing to release; present for interface parity."""

    def url_for(self, key: str) -> str:
        return (self.root / self._checked(key)).as_uri()

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._checked(key)

        def write() -> None:
            self._write(key, lambda file: file.write(data))

        await to_thread.run_sync(write)

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        self._checked(key)

        def copy() -> None:
            # Opened outside the store's error mapping: a missing source is the caller's error.
            with open(path, "rb") as source:
                self._write(key, lambda file: shutil.copyfileobj(source, file, DEFAULT_CHUNK_SIZE))

        await to_thread.run_sync(copy)

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], content_type: str | None = None) -> None:
        self._checked(key)
        target = await self._run(self._resolve, key)

        def open_temp() -> tuple[str, BinaryIO]:
            with _writing(key):
                return open_temp_beside(target)

        tmp, file = await to_thread.run_sync(open_temp)
        try:
            async for chunk in chunks:
                await self._run_writing(key, file.write, chunk)
            await self._run_writing(key, commit, file, tmp, target)
        except BaseException:
            # Synchronous on purpose: it must also run when the task is being cancelled.
            discard(file, tmp)
            raise

    async def get(self, key: str) -> bytes:
        self._checked(key)

        def read() -> bytes:
            path = self._resolve(key)
            with _reading(key), open(path, "rb") as file:
                return file.read()

        return await to_thread.run_sync(read)

    async def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        self._checked(key)
        _check_chunk_size(chunk_size)
        file = await to_thread.run_sync(self._open_for_reading, key)
        try:
            while True:
                with _reading(key):
                    chunk = await to_thread.run_sync(file.read, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            file.close()

    async def download_file(self, key: str, path: Path) -> None:
        self._checked(key)

        def copy() -> None:
            with self._open_for_reading(key) as source:
                tmp, file = open_temp_beside(path)
                try:
                    shutil.copyfileobj(source, file, DEFAULT_CHUNK_SIZE)
                except BaseException:
                    discard(file, tmp)
                    raise
                commit(file, tmp, path)

        await to_thread.run_sync(copy)

    async def exists(self, key: str) -> bool:
        self._checked(key)
        return await self._run(lambda: os.path.isfile(self._resolve(key)))

    async def delete(self, key: str) -> None:
        self._checked(key)
        await self._run(self._delete, key)

    async def list(self, prefix: str = "") -> AsyncGenerator[ObjectInfo, None]:
        validate_prefix(prefix)
        for info in await self._run(self._scan, prefix):
            yield info

    async def check(self) -> None:
        def probe() -> None:
            try:
                os.makedirs(self._real_root, exist_ok=True)
            except OSError as exc:
                raise ObjectStoreUnavailable(f"cannot create {self._real_root}: {exc.strerror or exc}") from exc
            if not os.path.isdir(self._real_root):
                raise ObjectStoreUnavailable(f"{self._real_root} is not a folder")
            if not os.access(self._real_root, os.W_OK | os.X_OK):
                raise ObjectStoreUnavailable(f"{self._real_root} is not writable")

        await to_thread.run_sync(probe)

    # -- helpers (the sync ones run in worker threads) -------------------------------------------

    def _checked(self, key: str) -> str:
        validate_key(key)
        if key.rpartition("/")[2].startswith(TMP_PREFIX):
            raise InvalidObjectKey(key, f"names starting with {TMP_PREFIX!r} are reserved for temporary files")
        return key

    def _resolve(self, key: str) -> str:
        """The real path of `key`; raises if a symbolic link leads outside the root."""
        return self._contained(os.path.realpath(os.path.join(self._real_root, key)), key)

    def _contained(self, real: str, key: str) -> str:
        if not real.startswith(self._inside_prefix):
            raise InvalidObjectKey(key, "resolves outside the store root (through a symbolic link)")
        return real

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        return await to_thread.run_sync(func, *args)

    async def _run_writing(self, key: str, func: Callable[..., T], *args: object) -> T:
        with _writing(key):
            return await to_thread.run_sync(func, *args)

    def _write(self, key: str, fill: Callable[[BinaryIO], object]) -> None:
        target = self._resolve(key)
        with _writing(key):
            tmp, file = open_temp_beside(target)
            try:
                fill(file)
            except BaseException:
                discard(file, tmp)
                raise
            commit(file, tmp, target)

    def _open_for_reading(self, key: str) -> BinaryIO:
        path = self._resolve(key)
        with _reading(key):
            file = open(path, "rb")  # noqa: SIM115 - closed by the caller
        return file

    def _delete(self, key: str) -> None:
        path = self._resolve(key)
        with _os_errors(key, "delete"):
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return
            # Prune folders left empty, so a later object may take a former prefix's name.
            folder = os.path.dirname(path)
            while folder.startswith(self._inside_prefix):
                try:
                    os.rmdir(folder)
                except OSError:
                    break
                folder = os.path.dirname(folder)

    def _scan(self, prefix: str) -> builtins.list[ObjectInfo]:
        """All objects under `prefix`, sorted like S3 (by UTF-8 bytes).

        Temp files and names that are not valid keys are skipped; symbolic links to folders are
        not followed, links to files are listed when they stay inside the root.
        """
        folder_key = prefix.rpartition("/")[0]
        start = self._real_root
        if folder_key:
            start = self._contained(os.path.realpath(os.path.join(self._real_root, folder_key)), prefix)
        found: list[ObjectInfo] = []

        def walk(folder: str, key_prefix: str) -> None:
            try:
                with os.scandir(folder) as entries:
                    batch = [*entries]
            except (FileNotFoundError, NotADirectoryError):
                return
            for entry in batch:
                key = key_prefix + entry.name
                if entry.name.startswith(TMP_PREFIX):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    sub = key + "/"
                    if sub.startswith(prefix) or prefix.startswith(sub):
                        walk(entry.path, sub)
                elif key.startswith(prefix) and _is_valid_key(key):
                    info = self._info(entry, key)
                    if info is not None:
                        found.append(info)

        with _os_errors(prefix, "list"):
            walk(start, folder_key + "/" if folder_key else "")
        found.sort(key=lambda info: info.key.encode("utf-8"))
        return found

    def _info(self, entry: os.DirEntry[str], key: str) -> ObjectInfo | None:
        if entry.is_symlink() and not os.path.realpath(entry.path).startswith(self._inside_prefix):
            return None
        try:
            st = entry.stat()
        except FileNotFoundError:
            return None  # deleted meanwhile, or a dangling link
        if not stat.S_ISREG(st.st_mode):
            return None
        return ObjectInfo(key=key, size=st.st_size, last_modified=datetime.fromtimestamp(st.st_mtime, tz=UTC))


def _is_valid_key(key: str) -> bool:
    try:
        validate_key(key)
    except InvalidObjectKey:
        return False
    return True
