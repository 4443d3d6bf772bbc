"""What a connection must be before it is stored (blocking parts run in worker threads).

PostgreSQL: every parameter given (a password too: nothing may come from the platform's own environment),
a TCP host, not the platform's own database by address, and, once connected, an ordinary role in a
database without the platform's schemas (`postgres_session.check_guard`). S3: a valid bucket, a prefix
that is a plain relative key, not overlapping the platform's own object store, and a bucket the
credentials can see. Each failure is a 422 naming the field.
"""

from __future__ import annotations

import contextlib
import re
import socket
from urllib.parse import parse_qsl, unquote, urlsplit

from mlplatform.kernel.errors import Invalid, Unavailable
from mlplatform.kernel.storage import InvalidObjectKey, validate_key
from mlplatform.modules.features.connections.postgres_session import read_only_session
from mlplatform.modules.features.connections.resolved import PostgresConnection, S3Connection
from mlplatform.modules.features.connections.schemas import PostgresConnectionCreate, S3ConnectionCreate
from mlplatform.settings import Settings

DSN_OPTIONS = {"sslmode"}
SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
POSTGRES_FIELDS = ("dsn", "host", "port", "database", "user", "password", "sslmode")


def _required(value: str | None, name: str) -> str:
    if value is None or not value.strip():
        raise Invalid(f"{name}: required", field=name)
    return value


def parse_postgres(data: PostgresConnectionCreate, settings: Settings) -> PostgresConnection:
    """The connection described by `data` (pure: no network)."""
    sslmode: str | None
    host, port, database, user, password, sslmode = (
        data.host,
        data.port,
        data.database,
        data.user,
        data.password,
        data.sslmode,
    )
    if data.dsn is not None:
        given = [name for name in POSTGRES_FIELDS[1:] if getattr(data, name) is not None]
        if given:
            raise Invalid(f"{given[0]}: give either dsn or its parts, not both", field=given[0])
        host, port, database, user, password, sslmode = _split_dsn(data.dsn)
    host = _required(host, "host").strip()
    if host.startswith(("/", "@")) or "," in host or any(c.isspace() for c in host):
        raise Invalid("host: one TCP host name or address (no socket paths, no host lists)", field="host")
    sslmode = sslmode or "prefer"
    if sslmode not in SSL_MODES:
        raise Invalid(f"sslmode: one of {', '.join(sorted(SSL_MODES))}", field="sslmode")
    return PostgresConnection(
        name=data.name,
        host=host,
        port=port or 5432,
        database=_required(database, "database"),
        user=_required(user, "user"),
        password=_required(password, "password"),
        sslmode=sslmode,
        statement_timeout_seconds=settings.connections.statement_timeout_seconds,
        connect_timeout_seconds=settings.connections.connect_timeout_seconds,
    )


def _split_dsn(dsn: str) -> tuple[str | None, int | None, str | None, str | None, str | None, str | None]:
    try:
        parts = urlsplit(dsn.strip())
        port = parts.port
    except ValueError:
        raise Invalid("dsn: not a postgresql://user:password@host:port/database URL", field="dsn") from None
    if parts.scheme not in {"postgresql", "postgres"} or parts.fragment:
        raise Invalid("dsn: not a postgresql://user:password@host:port/database URL", field="dsn")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - DSN_OPTIONS)
    if unknown:
        raise Invalid(
            f"dsn: option {unknown[0]!r} is not accepted (only {', '.join(sorted(DSN_OPTIONS))})", field="dsn"
        )
    database = unquote(parts.path.lstrip("/")) or None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port, database, user, password, options.get("sslmode")


def _addresses(host: str) -> set[str]:
    names = {host.lower()}
    if host.lower() in {"localhost", "127.0.0.1", "::1"}:
        names |= {"localhost", "127.0.0.1", "::1"}
    with contextlib.suppress(OSError, UnicodeError):
        names |= {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    return names


def refuse_platform_address(connection: PostgresConnection, settings: Settings) -> None:
    """422 when the connection names the platform's own database server and database (blocking: DNS)."""
    if not settings.uses_postgres:
        return
    platform = urlsplit(settings.resolved_database_url)
    platform_db = unquote(platform.path.lstrip("/"))
    if (platform.port or 5432) != connection.port or platform_db != connection.database:
        return
    if _addresses(platform.hostname or "localhost") & _addresses(connection.host):
        raise Invalid(
            "database: this is the platform's own database, which a connection can never be", field="database"
        )


def probe_postgres(connection: PostgresConnection, settings: Settings) -> None:
    """Connect, and check the role and the database (blocking)."""
    refuse_platform_address(connection, settings)
    try:
        # Opening the session is the probe: it connects, then checks the role and the database (`check_guard`).
        with read_only_session(connection):
            pass
    except Unavailable as exc:
        raise Invalid(f"host: {exc.detail}", field="host") from None
    except Invalid:
        raise
    except Exception as exc:  # authentication failures, unknown database ...
        raise Invalid(f"host: cannot connect: {str(exc).strip().splitlines()[0][:300]}", field="host") from None


def parse_s3(data: S3ConnectionCreate, settings: Settings) -> S3Connection:
    bucket = data.bucket.strip()
    if not BUCKET.match(bucket) or ".." in bucket:
        raise Invalid("bucket: not a valid S3 bucket name", field="bucket")
    prefix = data.prefix.strip().strip("/")
    if prefix:
        try:
            validate_key(prefix)
        except InvalidObjectKey as exc:
            raise Invalid(f"prefix: {exc.reason}", field="prefix") from None
    endpoint = data.endpoint_url.strip() if data.endpoint_url else None
    if endpoint is not None and (urlsplit(endpoint).scheme not in {"http", "https"} or not urlsplit(endpoint).netloc):
        raise Invalid("endpoint_url: must be an http:// or https:// URL", field="endpoint_url")
    connection = S3Connection(
        name=data.name,
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint,
        region=data.region or None,
        access_key_id=data.access_key_id,
        secret_access_key=data.secret_access_key,
    )
    refuse_platform_store(connection, settings)
    return connection


def _same_endpoint(a: str | None, b: str | None) -> bool:
    def norm(url: str | None) -> str:
        return (url or "").strip().rstrip("/").lower()

    return norm(a) == norm(b)


def refuse_platform_store(connection: S3Connection, settings: Settings) -> None:
    """422 when the connection's bucket/prefix and the platform's object store overlap (either inside the
    other) on the same endpoint: the platform's store holds every project's files and MLflow's artifacts."""
    store = urlsplit(settings.resolved_storage_url)
    if store.scheme != "s3" or store.netloc != connection.bucket:
        return
    if not _same_endpoint(settings.s3_endpoint_url, connection.endpoint_url):
        return
    mine = connection.prefix + "/" if connection.prefix else ""
    theirs = store.path.strip("/") + "/" if store.path.strip("/") else ""
    if mine.startswith(theirs) or theirs.startswith(mine):
        raise Invalid(
            "prefix: overlaps the platform's own object store (every project's files and MLflow's artifacts)",
            field="prefix",
        )


def probe_s3(connection: S3Connection) -> None:
    """The bucket must be visible with the connection's credentials (blocking)."""
    import pyarrow.fs as pafs

    from mlplatform.modules.features.connections.s3_location import location

    where = location(connection)
    try:
        fs, _ = where.filesystem(where.uri_for("probe"))
        info = fs.get_file_info(connection.bucket)
    except (OSError, ValueError) as exc:
        raise Invalid(
            f"bucket: cannot reach s3://{connection.bucket}: {str(exc).strip().splitlines()[0][:300]}", field="bucket"
        ) from None
    if info.type != pafs.FileType.Directory:
        raise Invalid(f"bucket: s3://{connection.bucket} does not exist or is not visible", field="bucket")
