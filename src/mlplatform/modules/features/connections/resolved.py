"""Connections as the blocking code (Feast's offline store, in worker threads) sees them: decrypted,
already checked to be granted to the project, bound for the duration of one call.

The async side resolves the connections granted to a project (`service.granted_connections`) and runs
the Feast call through `run_with(granted, fn, ...)`, which binds them in the worker thread. The offline
store looks a source's connection up with `connection_for`; a source naming a connection that is not
bound (never granted, revoked, deleted) or a call made without any binding fails closed.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from mlplatform.kernel.errors import Invalid

CONNECTION_TAG = "mlplatform.connection"
"""Feast tag on a data source naming the connection it reads through (set from the `connection` field;
users cannot set tags under `mlplatform.`)."""
RESERVED_TAG_PREFIX = "mlplatform."

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class PostgresConnection:
    name: str
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    sslmode: str = "prefer"
    statement_timeout_seconds: float = 30.0
    connect_timeout_seconds: int = 10

    @property
    def kind(self) -> str:
        return "postgres"

    def conninfo(self) -> dict[str, Any]:
        """Keyword arguments of `psycopg.connect`: every parameter explicit, so nothing comes from the
        platform's environment (PGHOST, PGPASSWORD, ~/.pgpass, a service file)."""
        return {
            "host": self.host,
            "port": self.port,
            "dbname": self.database,
            "user": self.user,
            "password": self.password,
            "sslmode": self.sslmode,
            "connect_timeout": self.connect_timeout_seconds,
            "application_name": f"mlplatform-connection-{self.name}",
            "passfile": "/nonexistent",
        }


@dataclass(frozen=True)
class S3Connection:
    name: str
    bucket: str
    prefix: str
    """Normalised: no leading or trailing `/`, may be empty (the whole bucket)."""
    endpoint_url: str | None
    region: str | None
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)

    @property
    def kind(self) -> str:
        return "s3"

    @property
    def root_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


ResolvedConnection = PostgresConnection | S3Connection

_granted: contextvars.ContextVar[tuple[str, Mapping[str, ResolvedConnection]] | None] = contextvars.ContextVar(
    "mlplatform_features_granted_connections", default=None
)


def run_with(
    project: str, granted: Mapping[str, ResolvedConnection], fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """Call `fn` with the project's granted connections bound (run this in the worker thread)."""
    token = _granted.set((project, dict(granted)))
    try:
        return fn(*args, **kwargs)
    finally:
        _granted.reset(token)


def connection_name(tags: Mapping[str, str] | None) -> str | None:
    return (tags or {}).get(CONNECTION_TAG) or None


def connection_for(source_name: str, connection: str) -> ResolvedConnection:
    """The bound connection named `connection`, for data source `source_name`; `Invalid` when it is not
    granted to the project (the same answer whether it exists or not)."""
    bound = _granted.get()
    if bound is None:
        raise Invalid(
            f"data source {source_name!r} reads through connection {connection!r}, which is not available here"
        )
    project, granted = bound
    found = granted.get(connection)
    if found is None:
        raise Invalid(
            f"data source {source_name!r}: no connection named {connection!r} is granted to project {project!r}",
            field="connection",
        )
    return found
