"""Pushed rows appended to a push source's offline data, in a way that can still be taken back.

A push `to: online_and_offline` appends offline first, then writes online inside `appending(...)`: if the
online write fails, the appended part file is deleted, so a failed push leaves neither store changed
(PostgreSQL sources read through connections, which are read-only: rows are never appended to them).

Blocking (pyarrow filesystems): worker threads only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
from feast import FileSource
from feast.data_source import DataSource
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource
from feast.repo_config import RepoConfig

from mlplatform.kernel.errors import Invalid
from mlplatform.modules.features.adapters.files import NotAFolder
from mlplatform.modules.features.adapters.offline import OfflineDataError, _location, source_uri
from mlplatform.modules.features.adapters.postgres import refuse_append


@dataclass(frozen=True)
class OfflineShape:
    """The columns the source's offline data has now (None: no data yet, any columns may start it)."""

    names: tuple[str, ...] | None
    schema: pa.Schema | None
    """Parquet only: the Arrow types appended rows must have."""


def offline_shape(config: RepoConfig, source: DataSource) -> OfflineShape:
    if isinstance(source, FileSource):
        schema = _location(config).schema(source_uri(config, source))
        return OfflineShape(None if schema is None else tuple(schema.names), schema)
    if isinstance(source, PostgreSQLSource):
        refuse_append(source)
    raise OfflineDataError(f"cannot append rows to data source {source.name!r}")


@contextmanager
def appending(config: RepoConfig, source: DataSource, table: pa.Table) -> Iterator[None]:
    """Append `table` to the source's offline data; the rows stay only if the block ends without an error."""
    if isinstance(source, FileSource):
        location = _location(config)
        try:
            part = location.append(source_uri(config, source), table)
        except NotAFolder:
            raise Invalid(
                f"to: the offline data of {source.name!r} is a single parquet file, and rows are only appended to a "
                "folder: push with to=online, or point the push source at a parquet source on a folder",
                field="to",
            ) from None
        try:
            yield
        except BaseException:
            location.delete(part)
            raise
    else:
        raise OfflineDataError(f"cannot append rows to data source {source.name!r}")
