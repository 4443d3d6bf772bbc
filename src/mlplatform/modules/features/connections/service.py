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
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import Conflict, Invalid, NotFound
from mlplatform.kernel.events import publish
from mlplatform.kernel.pagination import check_limit, decode_cursor, encode_cursor
from mlplatform.modules.features.connections import checks
from mlplatform.modules.features.connections import schemas as s
from mlplatform.modules.features.connections.resolved import PostgresConnection, ResolvedConnection, S3Connection
from mlplatform.modules.features.events import ConnectionChanged, ConnectionGrantChanged
from mlplatform.modules.features.models import ConnectionGrantRow, ConnectionRow
from mlplatform.modules.gateway.api import project_directory

SORT = "name"
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
    return s.Connection(
        name=row.name,
        kind=row.kind,
        description=row.description,
        postgres=postgres,
        s3=s3,
        projects=sorted(projects),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


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
        if data.kind == "postgres":
            postgres = checks.parse_postgres(data, settings)
            await anyio.to_thread.run_sync(checks.probe_postgres, postgres, settings)
            return postgres
        s3 = checks.parse_s3(data, settings)
        await anyio.to_thread.run_sync(checks.probe_s3, s3)
        return s3

    async def _row(self, name: str, *, lock: bool = False) -> ConnectionRow:
        query = select(ConnectionRow).where(ConnectionRow.name == name)
        row = await self.session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise NotFound(f"connection {name!r} not found")
        return row

    async def _projects(self, row: ConnectionRow) -> list[str]:
        rows = await self.session.scalars(
            select(ConnectionGrantRow.project).where(ConnectionGrantRow.connection_id == row.id)
        )
        return list(rows)

    async def create(self, data: s.ConnectionCreate, actor: str) -> s.Connection:
        if await self.session.scalar(select(ConnectionRow.id).where(ConnectionRow.name == data.name)) is not None:
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
        row = await self._row(name, lock=True)
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
        return connection_out(row, await self._projects(row))

    async def delete(self, name: str) -> None:
        """Delete a connection and its grants: sources reading through it fail until it is granted again."""
        row = await self._row(name, lock=True)
        await self.session.execute(delete(ConnectionGrantRow).where(ConnectionGrantRow.connection_id == row.id))
        await self.session.delete(row)
        await publish(self.session, ConnectionChanged(aggregate_id=name, name=name, kind=row.kind, change="deleted"))
        await self.session.flush()

    async def get(self, name: str) -> s.Connection:
        row = await self._row(name)
        return connection_out(row, await self._projects(row))

    async def page(self, cursor: str | None, limit: int | None) -> s.ConnectionPage:
        size = check_limit(limit)
        query = select(ConnectionRow).order_by(ConnectionRow.name).limit(size + 1)
        if cursor:
            query = query.where(ConnectionRow.name > str(decode_cursor(cursor, sort=SORT, arity=1)[0]))
        rows = list(await self.session.scalars(query))
        grants: dict[Any, list[str]] = {}
        if rows:
            found = await self.session.execute(
                select(ConnectionGrantRow.connection_id, ConnectionGrantRow.project).where(
                    ConnectionGrantRow.connection_id.in_([row.id for row in rows[:size]])
                )
            )
            for connection_id, project in found.all():
                grants.setdefault(connection_id, []).append(project)
        items = [connection_out(row, grants.get(row.id, [])) for row in rows[:size]]
        next_cursor = encode_cursor(SORT, [rows[size - 1].name]) if len(rows) > size else None
        return s.ConnectionPage(items=items, next_cursor=next_cursor)

    # -- grants -----------------------------------------------------------------------------------
    async def grants(self, name: str) -> list[s.ConnectionGrant]:
        row = await self._row(name)
        found = await self.session.scalars(
            select(ConnectionGrantRow)
            .where(ConnectionGrantRow.connection_id == row.id)
            .order_by(ConnectionGrantRow.project)
        )
        return [
            s.ConnectionGrant(connection=name, project=g.project, granted_by=g.granted_by, granted_at=g.granted_at)
            for g in found
        ]

    async def grant(self, name: str, project: str, actor: str) -> s.ConnectionGrant:
        row = await self._row(name, lock=True)
        if not await project_directory(self.platform).exists(project):
            raise Invalid(f"project: no project named {project!r}", field="project")
        existing = await self.session.get(ConnectionGrantRow, (row.id, project))
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
        row = await self._row(name, lock=True)
        existing = await self.session.get(ConnectionGrantRow, (row.id, project))
        if existing is None:
            raise NotFound(f"connection {name!r} is not granted to project {project!r}")
        await self.session.delete(existing)
        await publish(
            self.session, ConnectionGrantChanged(aggregate_id=name, project=project, name=name, change="revoked")
        )
        await self.session.flush()

    # -- projects ---------------------------------------------------------------------------------
    async def granted_to(self, project: str) -> list[s.GrantedConnection]:
        rows = await self.session.execute(
            select(ConnectionRow, ConnectionGrantRow.granted_at)
            .join(ConnectionGrantRow, ConnectionGrantRow.connection_id == ConnectionRow.id)
            .where(ConnectionGrantRow.project == project)
            .order_by(ConnectionRow.name)
        )
        out = []
        for row, granted_at in rows.all():
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
    rows = await session.scalars(
        select(ConnectionRow)
        .join(ConnectionGrantRow, ConnectionGrantRow.connection_id == ConnectionRow.id)
        .where(ConnectionGrantRow.project == project)
    )
    settings = platform.settings.connections
    resolved: dict[str, ResolvedConnection] = {}
    for row in rows:
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
