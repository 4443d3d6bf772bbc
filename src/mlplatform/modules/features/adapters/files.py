"""Parquet in the platform's object store, for blocking code (Feast, pyarrow) running in threads.

The async `ObjectStore` serves the request path; Feast's offline work is synchronous, so it reads
and writes the same objects through a pyarrow filesystem (local folder or S3 with the platform's
endpoint and the usual AWS_* credentials).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mlplatform.kernel.storage.base import validate_key

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs


class NotAFolder(ValueError):
    """Rows were to be appended to a location holding one parquet file (only a folder takes new parts)."""


@dataclass(frozen=True)
class StoreLocation:
    """Where the object store lives, in a form threads can use."""

    root_uri: str
    """`s3://bucket/prefix` or `file:///abs/path` (the store's `root_uri`)."""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    def uri_for(self, key: str) -> str:
        """The URI of the store key `key`, which must be a valid key (`validate_key`: it never leaves the root)."""
        return f"{self.root_uri.rstrip('/')}/{validate_key(key)}"

    def filesystem(self, uri: str) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem and the path inside it for `uri` (s3:// or file:// or a plain path)."""
        import pyarrow.fs as pafs

        parts = urlsplit(uri)
        if parts.scheme == "s3":
            endpoint = self.s3_endpoint_url
            options: dict[str, object] = {"region": self.s3_region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
            if endpoint:
                endpoint_parts = urlsplit(endpoint)
                options.update(endpoint_override=endpoint_parts.netloc, scheme=endpoint_parts.scheme or "https")
            if os.environ.get("AWS_ACCESS_KEY_ID"):
                options.update(
                    access_key=os.environ["AWS_ACCESS_KEY_ID"],
                    secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
                    session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
                )
            return pafs.S3FileSystem(**options), f"{parts.netloc}{parts.path}"
        path = parts.path if parts.scheme == "file" else uri
        return pafs.LocalFileSystem(), path

    def exists(self, uri: str) -> bool:
        import pyarrow.fs as pafs

        fs, path = self.filesystem(uri)
        return fs.get_file_info(path).type != pafs.FileType.NotFound

    def dataset(self, uri: str) -> ds.Dataset | None:
        """The parquet file or folder of parquet files at `uri`; None when nothing is there yet."""
        import pyarrow.dataset as ds
        import pyarrow.fs as pafs

        fs, path = self.filesystem(uri)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            return None
        if info.type == pafs.FileType.Directory:
            selector = pafs.FileSelector(path, recursive=True)
            files = [f.path for f in fs.get_file_info(selector) if f.is_file and f.path.endswith(".parquet")]
            if not files:
                return None
            return ds.dataset(sorted(files), filesystem=fs, format="parquet")
        return ds.dataset(path, filesystem=fs, format="parquet")

    def schema(self, uri: str) -> pa.Schema | None:
        dataset = self.dataset(uri)
        return None if dataset is None else dataset.schema

    def append(self, uri: str, table: pa.Table) -> str:
        """Add `table` as a new part file in the folder `uri`; returns the part's URI."""
        import pyarrow.fs as pafs
        import pyarrow.parquet as pq

        fs, path = self.filesystem(uri)
        part = f"part-{uuid.uuid4().hex}.parquet"
        if fs.get_file_info(path).type == pafs.FileType.File:
            raise NotAFolder(f"{uri} is a single parquet file: rows can only be appended to a folder")
        fs.create_dir(path, recursive=True)
        pq.write_table(table, f"{path.rstrip('/')}/{part}", filesystem=fs)
        return f"{uri.rstrip('/')}/{part}"

    def delete(self, uri: str) -> None:
        """Remove the file at `uri` (a part written by `append` that must not stay)."""
        fs, path = self.filesystem(uri)
        fs.delete_file(path)

    def write(self, uri: str, table: pa.Table) -> int:
        """Write `table` as one parquet file at `uri`; returns its size in bytes."""
        import pyarrow.parquet as pq

        fs, path = self.filesystem(uri)
        parent = path.rsplit("/", 1)[0]
        if parent:
            fs.create_dir(parent, recursive=True)
        pq.write_table(table, path, filesystem=fs)
        return int(fs.get_file_info(path).size or 0)

    def read(self, uri: str) -> pa.Table:
        dataset = self.dataset(uri)
        if dataset is None:
            raise FileNotFoundError(uri)
        return dataset.to_table()
