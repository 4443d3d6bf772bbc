"""Request and response bodies of the connections API. Responses never carry a credential."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

import msgspec

from mlplatform.modules.features.constraints import Description, ProjectName, whole

CONNECTION_NAME_PATTERN = whole(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
ConnectionName = Annotated[
    str,
    msgspec.Meta(
        pattern=CONNECTION_NAME_PATTERN,
        description="Letters, digits and underscores; not starting with a digit; at most 63 characters.",
    ),
]
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
_NOT_BLANK = whole(r"\s*\S[\s\S]*")
Short = Annotated[str, msgspec.Meta(max_length=500, pattern=_NOT_BLANK, description="Not blank.")]
Secret = Annotated[str, msgspec.Meta(max_length=4096, pattern=_NOT_BLANK, description="Not blank.")]
Host = Annotated[
    str,
    msgspec.Meta(
        max_length=500,
        pattern=whole(r"\s*[^/@,\s][^,\s]*\s*"),
        description="One TCP host name or address (no socket path, no list of hosts).",
    ),
]
Bucket = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
        description="An S3 bucket name: 3-63 lower-case letters, digits, dots and dashes.",
    ),
]
EndpointUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=500,
        pattern=whole(r"\s*[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s]+(?:[/?#]\S*)?\s*"),
        description="An http:// or https:// URL.",
    ),
]
Dsn = Annotated[
    str,
    msgspec.Meta(
        max_length=4096,
        pattern=whole(r"\s*postgres(?:ql)?://\S*\s*"),
        description="`postgresql://user:password@host:port/database?sslmode=...`",
    ),
]


class PostgresConnectionCreate(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="postgres"
):
    """A PostgreSQL connection: either `dsn` (`postgresql://user:password@host:port/db?sslmode=...`) or `host`,
    `port`, `database`, `user`, `password`, `sslmode` (`host`, `database`, `user` and `password` required)."""

    kind: ClassVar[Literal["postgres"]] = "postgres"
    name: ConnectionName
    description: Description = ""
    dsn: Dsn | None = None
    host: Host | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None
    database: Short | None = None
    user: Short | None = None
    password: Secret | None = None
    sslmode: SslMode | None = None


class S3ConnectionCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="s3"):
    """An S3 (or S3-compatible) bucket, optionally a prefix in it, and the credentials that read it."""

    kind: ClassVar[Literal["s3"]] = "s3"
    name: ConnectionName
    description: Description = ""
    bucket: Bucket
    prefix: Annotated[str, msgspec.Meta(max_length=1024)] = ""
    endpoint_url: EndpointUrl | None = None
    region: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    access_key_id: Secret
    secret_access_key: Secret


ConnectionCreate = PostgresConnectionCreate | S3ConnectionCreate
"""A connection and its credentials; `kind` says which (`postgres` or `s3`), and with it the fields."""


class PostgresDetails(msgspec.Struct, kw_only=True):
    host: str
    port: int
    database: str
    user: str
    sslmode: str


class S3Details(msgspec.Struct, kw_only=True):
    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None


class Connection(msgspec.Struct, kw_only=True):
    """A connection as platform admins see it: where it points, and the projects it is granted to."""

    name: str
    kind: str
    description: str
    postgres: PostgresDetails | None
    s3: S3Details | None
    projects: list[str]
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class ConnectionPage(msgspec.Struct, kw_only=True):
    items: list[Connection]
    next_cursor: str | None = None


class GrantedConnection(msgspec.Struct, kw_only=True):
    """A connection granted to a project, as its members see it."""

    name: str
    kind: str
    description: str
    postgres: PostgresDetails | None
    s3: S3Details | None
    granted_at: datetime


class ConnectionGrantCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    project: ProjectName


class ConnectionGrant(msgspec.Struct, kw_only=True):
    connection: str
    project: str
    granted_by: str | None
    granted_at: datetime
