"""PostgreSQL tables and queries as offline feature data, read through a granted connection (blocking:
worker threads).

A `postgres` source names a connection (`connections/`); its SQL runs with that connection's
credentials in a checked, read-only session with a statement timeout (`connections/postgres_session.py`),
never on the platform's own database. The time range is pushed down into SQL. Sources are read-only:
rows are never appended to them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import pandas as pd
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource

from mlplatform.kernel.errors import Invalid
from mlplatform.modules.features.connections.postgres_session import read_only_session, translate
from mlplatform.modules.features.connections.resolved import PostgresConnection, connection_for, connection_name

if TYPE_CHECKING:
    import psycopg

FETCH_ROWS = 10_000


class PostgresUnavailable(ValueError):
    """A PostgreSQL source cannot be read here (no connection, or one that is not PostgreSQL)."""


def pg_table(source: PostgreSQLSource) -> str | None:
    return getattr(source._postgres_options, "_table", None) or None


def pg_query(source: PostgreSQLSource) -> str | None:
    return getattr(source._postgres_options, "_query", None) or None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def source_connection(source: PostgreSQLSource) -> PostgresConnection:
    """The granted connection `source` reads through (sources stored without one are refused)."""
    name = connection_name(source.tags)
    if name is None:
        raise PostgresUnavailable(
            f"data source {source.name!r} names no connection: PostgreSQL sources read only through a connection "
            "granted to the project (re-create it with `connection`)"
        )
    connection = connection_for(source.name, name)
    if not isinstance(connection, PostgresConnection):
        raise PostgresUnavailable(f"data source {source.name!r}: connection {name!r} is not a PostgreSQL connection")
    return connection


def _from_expression(source: PostgreSQLSource) -> str:
    table, query = pg_table(source), pg_query(source)
    if query:
        return f"({query})"
    if table:
        return ".".join(_quote(part) for part in table.split("."))
    raise PostgresUnavailable(f"data source {source.name!r} has neither a table nor a query")


def _declare(pg: psycopg.Connection[tuple[Any, ...]], sql: str) -> psycopg.ServerCursor[tuple[Any, ...]]:
    """A server-side cursor over `sql` (one statement, extended protocol: nothing can be appended)."""
    cursor = pg.cursor(name="mlplatform_source")
    cursor.itersize = FETCH_ROWS
    cursor.execute(sql)
    return cursor


def read_postgres(
    source: PostgreSQLSource,
    columns: list[str],
    timestamp_field: str,
    start: datetime | None,
    end: datetime | None,
) -> pd.DataFrame:
    from psycopg import sql as pgsql

    connection = source_connection(source)
    where = []
    if start is not None:
        where.append(pgsql.SQL("{} >= {}").format(pgsql.Identifier(timestamp_field), pgsql.Literal(start)))
    if end is not None:
        where.append(pgsql.SQL("{} <= {}").format(pgsql.Identifier(timestamp_field), pgsql.Literal(end)))
    try:
        with read_only_session(connection) as pg:
            statement = pgsql.SQL("SELECT {} FROM ").format(pgsql.SQL(", ").join(map(pgsql.Identifier, columns)))
            text = statement.as_string(pg) + _from_expression(source) + " AS src"
            if where:
                text += " WHERE " + pgsql.SQL(" AND ").join(where).as_string(pg)
            with _declare(pg, text) as cursor:
                names = [column.name for column in cursor.description or []]
                rows = cursor.fetchall()
    except Exception as exc:
        raise translate(exc, connection, source.name) from None
    frame = pd.DataFrame.from_records(rows, columns=names, coerce_float=True)
    for column in frame.columns:
        frame[column] = frame[column].convert_dtypes(convert_string=False, convert_floating=False)
    return frame


def postgres_columns(source: PostgreSQLSource) -> list[tuple[str, str]]:
    """(column, PostgreSQL type) of what the source's SQL returns (runs it with `LIMIT 0`)."""
    connection = source_connection(source)
    try:
        with read_only_session(connection) as pg:
            probe = f"SELECT * FROM {_from_expression(source)} AS src LIMIT 0"  # noqa: S608 - read-only, one SELECT
            with _declare(pg, probe) as cursor:
                described = [(column.name, column.type_code) for column in cursor.description or []]
            with pg.cursor() as plain:
                plain.execute(
                    "SELECT t.oid::bigint, pg_catalog.format_type(t.oid, NULL) FROM pg_catalog.pg_type t "
                    "WHERE t.oid = ANY(%s::oid[])",
                    [[code for _, code in described]],
                )
                names = {int(str(oid)): str(name) for oid, name in plain.fetchall()}
    except Exception as exc:
        raise translate(exc, connection, source.name) from None
    return [(name, names.get(code, "unknown")) for name, code in described]


def refuse_append(source: PostgreSQLSource) -> NoReturn:
    raise Invalid(
        f"data source {source.name!r} is a PostgreSQL source: connections are read-only, rows cannot be appended "
        "(push sources write offline rows to a parquet source in the platform's store)"
    )
