"""Connections and their grants: platform admins register, replace, delete and grant them; project
members list what their project was granted; data source reads resolve the project's grants.

Credentials are encrypted with the platform's `SecretBox` (`ConnectionRow.credentials`, re-encrypted by
`mlplatform admin rotate-secret-key`) and decrypted only to open a connection. Writes flush and publish
their event in the request's transaction; the gateway audits them.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.conversion import to_schema
from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import Conflict, Invalid, NotFound
from mlplatform.kernel.events import publish
from mlplatform.modules.features import repositories
from mlplatform.modules.features.connections import checks
from mlplatform.modules.features.connections import schemas as s
from mlplatform.modules.features.connections.resolved import PostgresConnection, ResolvedConnection, S3Connection
from mlplatform.modules.features.events import ConnectionChanged, ConnectionGrantChanged
from mlplatform.modules.features.models import ConnectionGrantRow, ConnectionRow
from mlplatform.modules.gateway.api import project_directory

log = structlog.get_logger("mlplatform.features")


def _details(row: ConnectionRow) -> tuple[s.PostgresDetails | None, s.S3Details | None]:
    shown = row.settings
    if row.kind == "postgres":
        return (
            s.PostgresDetails(
                host=shown["host"],
                port=int(shown["port"]),
                database=shown["database"],
                user=shown["user"],
                sslmode=shown["sslmode"],
            ),
            None,
        )
    return None, s.S3Details(
        bucket=shown["bucket"], prefix=shown["prefix"], endpoint_url=shown["endpoint_url"], region=shown["region"]
    )


def connection_out(row: ConnectionRow, projects: list[str]) -> s.Connection:
    postgres, s3 = _details(row)
    return to_schema(row, s.Connection, postgres=postgres, s3=s3, projects=sorted(projects))


def _stored(connection: ResolvedConnection) -> tuple[dict[str, Any], dict[str, str]]:
    """(what may be shown, the credentials) of a parsed connection."""
    if isinstance(connection, PostgresConnection):
        shown: dict[str, Any] = {
            "host": connection.host,
            "port": connection.port,
            "database": connection.database,
            "user": connection.user,
            "sslmode": connection.sslmode,
        }
        return shown, {"password": connection.password}
    shown = {
        "bucket": connection.bucket,
        "prefix": connection.prefix,
        "endpoint_url": connection.endpoint_url,
        "region": connection.region,
    }
    return shown, {"access_key_id": connection.access_key_id, "secret_access_key": connection.secret_access_key}


class ConnectionService:
    def __init__(self, session: AsyncSession, platform: PlatformContext) -> None:
        self.session = session
        self.platform = platform

    # -- admin ------------------------------------------------------------------------------------
    async def _checked(self, data: s.ConnectionCreate) -> ResolvedConnection:
        settings = self.platform.settings
        if isinstance(data, s.PostgresConnectionCreate):
            postgres = checks.parse_postgres(data, settings)
            await anyio.to_thread.run_sync(checks.probe_postgres, postgres, settings)
            return postgres
        s3 = checks.parse_s3(data, settings)
        await anyio.to_thread.run_sync(checks.probe_s3, s3)
        return s3

    async def create(self, data: s.ConnectionCreate, actor: str) -> s.Connection:
        if await repositories.connection_exists(self.session, data.name):
            raise Conflict(f"a connection named {data.name!r} already exists")
        connection = await self._checked(data)
        shown, secret = _stored(connection)
        row = ConnectionRow(
            name=data.name,
            kind=data.kind,
            description=data.description,
            settings=shown,
            credentials=self.platform.secrets.encrypt(json.dumps(secret)),
            created_by=actor,
        )
        self.session.add(row)
        await publish(
            self.session, ConnectionChanged(aggregate_id=data.name, name=data.name, kind=data.kind, change="created")
        )
        await self.session.flush()
        return connection_out(row, [])

    async def replace(self, name: str, data: s.ConnectionCreate) -> s.Connection:
        """New address and credentials for an existing connection (its grants stay)."""
        if data.name != name:
            raise Invalid(f"name: {data.name!r} does not match the name in the path ({name!r})", field="name")
        row = await repositories.connection_named(self.session, name, lock=True)
        if data.kind != row.kind:
            raise Invalid(f"kind: connection {name!r} is a {row.kind} connection", field="kind")
        connection = await self._checked(data)
        shown, secret = _stored(connection)
        row.description = data.description
        row.settings = shown
        row.credentials = self.platform.secrets.encrypt(json.dumps(secret))
        row.updated_at = utcnow()
        await publish(self.session, ConnectionChanged(aggregate_id=name, name=name, kind=row.kind, change="replaced"))
        await self.session.flush()
        return connection_out(row, await repositories.granted_projects(self.session, row))

    async def delete(self, name: str) -> None:
        """Delete a connection and its grants: sources reading through it fail until it is granted again."""
        row = await repositories.connection_named(self.session, name, lock=True)
        await repositories.delete_connection(self.session, row)
        await publish(self.session, ConnectionChanged(aggregate_id=name, name=name, kind=row.kind, change="deleted"))
        await self.session.flush()

    async def get(self, name: str) -> s.Connection:
        row = await repositories.connection_named(self.session, name)
        return connection_out(row, await repositories.granted_projects(self.session, row))

    async def page(self, cursor: str | None, limit: int | None) -> s.ConnectionPage:
        page, grants = await repositories.list_connections(self.session, cursor, limit)
        items = [connection_out(row, grants.get(row.id, [])) for row in page.items]
        return s.ConnectionPage(items=items, next_cursor=page.next_cursor)

    # -- grants -----------------------------------------------------------------------------------
    async def grants(self, name: str) -> list[s.ConnectionGrant]:
        row = await repositories.connection_named(self.session, name)
        found = await repositories.grants_of(self.session, row)
        return [
            s.ConnectionGrant(connection=name, project=g.project, granted_by=g.granted_by, granted_at=g.granted_at)
            for g in found
        ]

    async def grant(self, name: str, project: str, actor: str) -> s.ConnectionGrant:
        row = await repositories.connection_named(self.session, name, lock=True)
        if not await project_directory(self.platform).exists(project):
            raise Invalid(f"project: no project named {project!r}", field="project")
        existing = await repositories.grant_of(self.session, row, project)
        if existing is None:
            existing = ConnectionGrantRow(connection_id=row.id, project=project, granted_by=actor, granted_at=utcnow())
            self.session.add(existing)
            await publish(
                self.session, ConnectionGrantChanged(aggregate_id=name, project=project, name=name, change="granted")
            )
            await self.session.flush()
        return s.ConnectionGrant(
            connection=name, project=project, granted_by=existing.granted_by, granted_at=existing.granted_at
        )

    async def revoke(self, name: str, project: str) -> None:
        row = await repositories.connection_named(self.session, name, lock=True)
        existing = await repositories.grant_of(self.session, row, project)
        if existing is None:
            raise NotFound(f"connection {name!r} is not granted to project {project!r}")
        await self.session.delete(existing)
        await publish(
            self.session, ConnectionGrantChanged(aggregate_id=name, project=project, name=name, change="revoked")
        )
        await self.session.flush()

    # -- projects ---------------------------------------------------------------------------------
    async def granted_to(self, project: str) -> list[s.GrantedConnection]:
        out = []
        for row, granted_at in await repositories.connections_granted_to(self.session, project):
            postgres, s3 = _details(row)
            out.append(
                s.GrantedConnection(
                    name=row.name,
                    kind=row.kind,
                    description=row.description,
                    postgres=postgres,
                    s3=s3,
                    granted_at=granted_at,
                )
            )
        return out


async def granted_connections(
    session: AsyncSession, platform: PlatformContext, project: str
) -> dict[str, ResolvedConnection]:
    """The connections granted to `project`, decrypted, for one read (see `resolved.run_with`)."""
    settings = platform.settings.connections
    resolved: dict[str, ResolvedConnection] = {}
    for row, _ in await repositories.connections_granted_to(session, project):
        secret = json.loads(platform.secrets.decrypt_text(row.credentials))
        shown = row.settings
        if row.kind == "postgres":
            resolved[row.name] = PostgresConnection(
                name=row.name,
                host=shown["host"],
                port=int(shown["port"]),
                database=shown["database"],
                user=shown["user"],
                password=secret["password"],
                sslmode=shown["sslmode"],
                statement_timeout_seconds=settings.statement_timeout_seconds,
                connect_timeout_seconds=settings.connect_timeout_seconds,
            )
        else:
            s3 = S3Connection(
                name=row.name,
                bucket=shown["bucket"],
                prefix=shown["prefix"],
                endpoint_url=shown["endpoint_url"],
                region=shown["region"],
                access_key_id=secret["access_key_id"],
                secret_access_key=secret["secret_access_key"],
            )
            try:
                checks.refuse_platform_store(s3, platform.settings)
            except Invalid:
                log.warning("connection_overlaps_platform_store", connection=row.name)
                continue
            resolved[row.name] = s3
    return resolved
