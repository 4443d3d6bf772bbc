"""PostgreSQL tables as offline feature data (blocking: worker threads).

The platform's own database holds them (any schema); reads push the time range down into SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource


class PostgresUnavailable(ValueError):
    """PostgreSQL sources need the platform to run on PostgreSQL."""


_engines: dict[str, Any] = {}
_engines_lock = threading.Lock()


def _engine(url: str) -> Any:
    from sqlalchemy import create_engine

    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_engine(url, pool_size=4, max_overflow=4, pool_pre_ping=True)
            _engines[url] = engine
        return engine


def pg_table(source: PostgreSQLSource) -> str | None:
    return getattr(source._postgres_options, "_table", None) or None


def pg_query(source: PostgreSQLSource) -> str | None:
    return getattr(source._postgres_options, "_query", None) or None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_postgres(
    url: str | None,
    source: PostgreSQLSource,
    columns: list[str],
    timestamp_field: str,
    start: datetime | None,
    end: datetime | None,
) -> pd.DataFrame:
    from sqlalchemy import text

    if not url:
        raise PostgresUnavailable(
            f"data source {source.name!r} reads PostgreSQL, but the platform has no PostgreSQL database"
        )
    from_expression = source.get_table_query_string()
    where = []
    params: dict[str, Any] = {}
    if start is not None:
        where.append(f"{_quote(timestamp_field)} >= :start")
        params["start"] = start
    if end is not None:
        where.append(f"{_quote(timestamp_field)} <= :end")
        params["end"] = end
    sql = f"SELECT {', '.join(_quote(c) for c in columns)} FROM {from_expression} AS src"  # noqa: S608 - identifiers quoted
    if where:
        sql += " WHERE " + " AND ".join(where)
    with _engine(url).connect() as connection:
        frame = pd.read_sql_query(text(sql), connection, params=params)
    for column in frame.columns:
        frame[column] = frame[column].convert_dtypes(convert_string=False, convert_floating=False)
    return frame


def postgres_columns(url: str | None, source: PostgreSQLSource) -> list[tuple[str, str]]:
    from sqlalchemy import text

    if not url:
        raise PostgresUnavailable("PostgreSQL sources need the platform to run on PostgreSQL")
    with _engine(url).connect() as connection:
        result = connection.execute(text(f"SELECT * FROM {source.get_table_query_string()} AS src LIMIT 0"))  # noqa: S608
        cursor = result.cursor
        names = list(result.keys())
        types = [getattr(column, "type_code", None) for column in cursor.description] if cursor else []
        return [(name, _pg_type_name(connection, code)) for name, code in zip(names, types, strict=False)]


def _pg_type_name(connection: Any, oid: Any) -> str:
    from sqlalchemy import text

    if oid is None:
        return "unknown"
    return str(connection.execute(text("SELECT format_type(:oid, NULL)"), {"oid": oid}).scalar() or "unknown")


def append_postgres(url: str | None, source: PostgreSQLSource, table: pa.Table) -> None:
    with appending_postgres(url, source, table):
        pass


@contextmanager
def appending_postgres(url: str | None, source: PostgreSQLSource, table: pa.Table) -> Iterator[None]:
    """Insert the rows in a transaction committed when the block ends, rolled back when it raises."""
    table_name = pg_table(source)
    if not table_name:
        raise PostgresUnavailable(f"data source {source.name!r} is a query: rows can only be appended to a table")
    if not url:
        raise PostgresUnavailable("PostgreSQL sources need the platform to run on PostgreSQL")
    schema, _, name = table_name.rpartition(".")
    frame = table.to_pandas()
    with _engine(url).begin() as connection:
        frame.to_sql(name, connection, schema=schema or None, if_exists="append", index=False, method="multi")
        yield
