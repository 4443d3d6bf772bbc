"""Sessions on a PostgreSQL connection (blocking: worker threads), for data source reads and for the
checks at registration.

Every session is a fresh connection (no pool: nothing one query sets survives into another) in a
`READ ONLY` transaction with `statement_timeout` set locally, and starts with the guard: the login role
must not be a superuser, a replication role, or able to act as one of PostgreSQL's predefined roles that
reach beyond the database (server files and programs, every table, other sessions' queries and
signals), and the database must not hold the platform's schemas (`mlplatform`, `mlflow`, `feast`): the
platform's own database is never a connection's, whatever its address looks like. Checked when the
connection is registered and again before every use.

User SQL is only ever run through a server-side cursor (`DECLARE ... CURSOR FOR <one SELECT>`, sent with
the extended query protocol), so it cannot append statements (`; COMMIT; INSERT ...`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mlplatform.kernel.db import ALL_SCHEMAS
from mlplatform.kernel.errors import Invalid, PlatformError, Unavailable
from mlplatform.modules.features.connections.resolved import PostgresConnection

if TYPE_CHECKING:
    import psycopg

PREDEFINED_ROLES_REFUSED = (
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_read_all_stats",
    "pg_read_all_settings",
    "pg_stat_scan_tables",
    "pg_monitor",
    "pg_signal_backend",
    "pg_checkpoint",
    "pg_create_subscription",
    "pg_use_reserved_connections",
)

GUARD_SQL = """
SELECT
  session_user::text,
  ARRAY(
    SELECT b.rolname::text FROM pg_catalog.pg_roles b
    WHERE (b.rolsuper OR b.rolreplication OR b.rolname = ANY(%(refused)s))
      AND pg_catalog.pg_has_role(session_user, b.oid, 'MEMBER')
    ORDER BY b.rolname
  ),
  ARRAY(
    SELECT n.nspname::text FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY(%(schemas)s) ORDER BY n.nspname
  )
"""


class ConnectionRefused(Invalid):
    """The connection's role or database breaks the rules above (422)."""


def check_guard(cursor: psycopg.Cursor[tuple[object, ...]], connection: PostgresConnection) -> None:
    cursor.execute(GUARD_SQL, {"refused": list(PREDEFINED_ROLES_REFUSED), "schemas": list(ALL_SCHEMAS)})
    row = cursor.fetchone()
    assert row is not None
    user, powers, schemas = row
    assert isinstance(powers, list)
    assert isinstance(schemas, list)
    if powers:
        raise ConnectionRefused(
            f"connection {connection.name!r}: role {user!r} is a superuser or replication role, or can act as "
            f"{', '.join(str(p) for p in powers)}: give the connection an ordinary role with SELECT on what it "
            "may read",
            field="user",
        )
    if schemas:
        raise ConnectionRefused(
            f"connection {connection.name!r}: database {connection.database!r} holds the platform's own schemas "
            f"({', '.join(str(n) for n in schemas)}): the platform's database cannot be a connection",
            field="database",
        )


@contextmanager
def read_only_session(connection: PostgresConnection) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A checked, read-only transaction on a new connection (rolled back and closed at the end)."""
    import psycopg

    try:
        pg = psycopg.connect(**connection.conninfo(), autocommit=False)
    except psycopg.OperationalError as exc:
        raise Unavailable(
            f"connection {connection.name!r} is unreachable: {_first_line(exc)}",
            component=f"connection:{connection.name}",
        ) from None
    try:
        with pg.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            timeout_ms = max(1, int(connection.statement_timeout_seconds * 1000))
            cursor.execute("SELECT pg_catalog.set_config('statement_timeout', %s, true)", [str(timeout_ms)])
            check_guard(cursor, connection)
        yield pg
    finally:
        try:
            pg.rollback()
        finally:
            pg.close()


def translate(exc: BaseException, connection: PostgresConnection, source: str) -> BaseException:
    """A PostgreSQL error while reading `source` as the platform error the caller sees."""
    import psycopg
    from psycopg import errors

    if isinstance(exc, PlatformError):
        return exc
    if isinstance(exc, errors.QueryCanceled):
        return Invalid(
            f"data source {source!r}: the query was cancelled after the statement timeout of "
            f"{connection.statement_timeout_seconds:g} s (connection {connection.name!r})"
        )
    if isinstance(exc, errors.ReadOnlySqlTransaction):
        return Invalid(
            f"data source {source!r}: connections are read-only, the query tried to write: {_first_line(exc)}"
        )
    lost = isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None
    if lost or isinstance(exc, (errors.AdminShutdown, errors.ConnectionFailure, errors.CannotConnectNow)):
        return Unavailable(
            f"connection {connection.name!r} failed while reading {source!r}: {_first_line(exc)}",
            component=f"connection:{connection.name}",
        )
    if isinstance(exc, psycopg.Error):
        return Invalid(f"data source {source!r}: {_first_line(exc)}")
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
