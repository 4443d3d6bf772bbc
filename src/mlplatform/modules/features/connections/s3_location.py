"""Parquet under an S3 connection's bucket/prefix, read with that connection's own credentials (blocking:
worker threads).

A parquet source on an `s3` connection gives a `path` relative to the connection's prefix; it is checked
with the object store's key rules (relative, no `..`, no empty segments, no backslashes or control
characters, so no `s3://` either) and can never leave the prefix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mlplatform.kernel.errors import Invalid
from mlplatform.kernel.storage import InvalidObjectKey, validate_key
from mlplatform.modules.features.adapters.files import StoreLocation
from mlplatform.modules.features.connections.resolved import S3Connection, connection_for

if TYPE_CHECKING:
    import pyarrow.fs as pafs


@dataclass(frozen=True)
class ConnectionLocation(StoreLocation):
    """A `StoreLocation` whose S3 filesystem uses the connection's credentials, never the platform's."""

    access_key_id: str = field(default="", repr=False)
    secret_access_key: str = field(default="", repr=False)

    def filesystem(self, uri: str) -> tuple[pafs.FileSystem, str]:
        import pyarrow.fs as pafs

        parts = urlsplit(uri)
        if parts.scheme != "s3" or not uri.startswith(self.root_uri.rstrip("/") + "/"):
            raise Invalid(f"{uri} is outside the connection's {self.root_uri}")
        options: dict[str, object] = {
            "region": self.s3_region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "access_key": self.access_key_id,
            "secret_key": self.secret_access_key,
        }
        if self.s3_endpoint_url:
            endpoint = urlsplit(self.s3_endpoint_url)
            options.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme or "https")
        return pafs.S3FileSystem(**options), f"{parts.netloc}{parts.path}"


def relative_path(path: str, *, field_name: str = "path") -> str:
    """`path` as a key under a connection's prefix (422 naming `field_name` when it could leave it)."""
    key = path.strip().rstrip("/")
    try:
        validate_key(key)
    except InvalidObjectKey as exc:
        raise Invalid(f"{field_name}: {exc.reason}", field=field_name) from None
    return key


def location(connection: S3Connection) -> ConnectionLocation:
    return ConnectionLocation(
        root_uri=connection.root_uri,
        s3_endpoint_url=connection.endpoint_url,
        s3_region=connection.region,
        access_key_id=connection.access_key_id,
        secret_access_key=connection.secret_access_key,
    )


def source_location(source_name: str, connection_name: str, path: str) -> tuple[ConnectionLocation, str]:
    """Where a parquet source on an S3 connection reads: the location and the URI inside it."""
    connection = connection_for(source_name, connection_name)
    if not isinstance(connection, S3Connection):
        raise Invalid(f"data source {source_name!r}: connection {connection_name!r} is not an S3 connection")
    where = location(connection)
    return where, where.uri_for(relative_path(path))
