"""Every SQL statement of the gateway, one repository per table group; services and caches call these.

A repository works in the session (or connection) it is given and never commits: the caller owns the
transaction. Rows are returned as ORM objects; the caller decides what becomes a response.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mlplatform.kernel.jobs.model import KernelJob
from mlplatform.kernel.pagination import Page, SortOrder, page_of
from mlplatform.modules.gateway.models import ApiKeyRow, AuditEvent, Membership, PrincipalRow, Project, SigningKeyRow


class ProjectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_name(self, name: str, *, for_update: bool = False) -> Project | None:
        """The project of that name, deleted (a tombstone waiting for its purge) or not."""
        statement = select(Project).where(Project.name == name)
        return await self.session.scalar(statement.with_for_update() if for_update else statement)

    async def live(self, name: str, *, for_update: bool = False) -> Project | None:
        """The project of that name unless it is deleted."""
        statement = select(Project).where(Project.name == name, Project.deleted_at.is_(None))
        return await self.session.scalar(statement.with_for_update() if for_update else statement)

    async def live_by_name(self) -> Sequence[Project]:
        return (
            await self.session.scalars(select(Project).where(Project.deleted_at.is_(None)).order_by(Project.name))
        ).all()

    async def live_names(self) -> frozenset[str]:
        return frozenset((await self.session.scalars(select(Project.name).where(Project.deleted_at.is_(None)))).all())

    async def created_at(self, name: str) -> datetime | None:
        """When the current (not deleted) project of that name was created."""
        return await self.session.scalar(
            select(Project.created_at).where(Project.name == name, Project.deleted_at.is_(None))
        )

    async def purge_job(self, project: Project) -> KernelJob | None:
        """The last purge job submitted for a deleted project."""
        return await self.session.get(KernelJob, project.purge_job_id) if project.purge_job_id else None

    async def remove_tombstone(self, name: str) -> int:
        """Delete the row of a deleted project (frees its name); returns the rows removed."""
        result = await self.session.execute(
            delete(Project).where(Project.name == name, Project.deleted_at.is_not(None))
        )
        return int(getattr(result, "rowcount", 0) or 0)


class MembershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, project_id: uuid.UUID, principal_id: uuid.UUID) -> Membership | None:
        return await self.session.get(Membership, (project_id, principal_id))

    async def members(self, project_id: uuid.UUID) -> list[tuple[PrincipalRow, Membership]]:
        rows = await self.session.execute(
            select(PrincipalRow, Membership)
            .join(Membership, Membership.principal_id == PrincipalRow.id)
            .where(Membership.project_id == project_id)
            .order_by(PrincipalRow.kind, PrincipalRow.name)
        )
        return [(p, m) for p, m in rows]

    async def another_with_role(self, project_id: uuid.UUID, role: int, besides: uuid.UUID) -> uuid.UUID | None:
        """A member other than `besides` holding exactly `role`, if any."""
        return await self.session.scalar(
            select(Membership.principal_id)
            .where(Membership.project_id == project_id, Membership.role == role, Membership.principal_id != besides)
            .limit(1)
        )

    async def roles_of(self, principal_id: uuid.UUID) -> dict[str, int]:
        """Project name → role number of every membership of the principal."""
        rows = await self.session.execute(
            select(Project.name, Membership.role)
            .join(Membership, Membership.project_id == Project.id)
            .where(Membership.principal_id == principal_id)
        )
        return {name: role for name, role in rows}

    async def remove_all(self, project_id: uuid.UUID) -> None:
        await self.session.execute(delete(Membership).where(Membership.project_id == project_id))


class PrincipalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, principal_id: uuid.UUID) -> PrincipalRow | None:
        return await self.session.get(PrincipalRow, principal_id)

    async def get_one(self, principal_id: uuid.UUID) -> PrincipalRow:
        return await self.session.get_one(PrincipalRow, principal_id)

    async def by_name(self, kind: str, name: str, *, for_update: bool = False) -> PrincipalRow | None:
        statement = select(PrincipalRow).where(PrincipalRow.kind == kind, PrincipalRow.name == name)
        return await self.session.scalar(statement.with_for_update() if for_update else statement)

    async def exists(self, kind: str, name: str) -> bool:
        found = await self.session.scalar(
            select(PrincipalRow.id).where(PrincipalRow.kind == kind, PrincipalRow.name == name)
        )
        return found is not None

    async def by_external_identity(self, issuer: str, subject: str) -> PrincipalRow | None:
        return await self.session.scalar(
            select(PrincipalRow).where(PrincipalRow.external_issuer == issuer, PrincipalRow.external_subject == subject)
        )

    async def any_platform_admin(self) -> bool:
        found = await self.session.scalar(select(PrincipalRow.id).where(PrincipalRow.platform_admin).limit(1))
        return found is not None

    async def listed(self, kind: str | None = None) -> list[PrincipalRow]:
        statement = select(PrincipalRow).order_by(PrincipalRow.kind, PrincipalRow.name)
        if kind is not None:
            statement = statement.where(PrincipalRow.kind == kind)
        return list((await self.session.scalars(statement)).all())


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key_uuid: uuid.UUID) -> ApiKeyRow | None:
        return await self.session.get(ApiKeyRow, key_uuid)

    async def by_key_id(self, key_id: str) -> ApiKeyRow | None:
        return await self.session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))

    async def with_owners(self, owner_id: uuid.UUID | None) -> list[tuple[ApiKeyRow, PrincipalRow]]:
        """Keys, newest first, with their owners: those of `owner_id`, or every key when it is None."""
        statement = select(ApiKeyRow, PrincipalRow).join(PrincipalRow, PrincipalRow.id == ApiKeyRow.principal_id)
        if owner_id is not None:
            statement = statement.where(ApiKeyRow.principal_id == owner_id)
        rows = await self.session.execute(statement.order_by(ApiKeyRow.created_at.desc()))
        return [(key, owner) for key, owner in rows]

    async def revoke_scoped_to(self, project: str, at: datetime) -> None:
        await self.session.execute(
            update(ApiKeyRow).where(ApiKeyRow.project == project, ApiKeyRow.revoked_at.is_(None)).values(revoked_at=at)
        )

    async def mark_used(self, key_uuid: uuid.UUID, at: datetime) -> None:
        await self.session.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_uuid).values(last_used_at=at))


class SigningKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self, *, for_update: bool = False) -> Sequence[SigningKeyRow]:
        statement = select(SigningKeyRow)
        return (await self.session.scalars(statement.with_for_update() if for_update else statement)).all()

    async def active(self) -> SigningKeyRow:
        return (await self.session.scalars(select(SigningKeyRow).where(SigningKeyRow.retired_at.is_(None)))).one()


AUDIT_ORDER = SortOrder("audit", (AuditEvent.id,), (int,), descending=True)
"""Newest first; the cursor holds the last row's id (the same cursors as before the kernel helper)."""


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What `GET /api/v1/audit-events` narrows the log to; None is "any"."""

    project: str | None = None
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    project_created: datetime | None = None
    """Only rows recorded since the current project of that name was created (not an earlier one's)."""


class AuditRepository:
    _TABLE = cast(Table, AuditEvent.__table__)
    _INSERT = insert(_TABLE)
    COLUMNS = tuple(c.key for c in _TABLE.columns if not c.primary_key)
    """The columns an inserted row gives values for (the id is generated)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(self, where: AuditFilter, *, cursor: str | None, limit: int) -> Page[AuditEvent]:
        statement = select(AuditEvent)
        for column, value in (
            (AuditEvent.project, where.project),
            (AuditEvent.actor, where.actor),
            (AuditEvent.action, where.action),
            (AuditEvent.outcome, where.outcome),
        ):
            if value is not None:
                statement = statement.where(column == value)
        for lower in (where.project_created, where.since):
            if lower is not None:
                statement = statement.where(AuditEvent.occurred_at >= lower)
        if where.until is not None:
            statement = statement.where(AuditEvent.occurred_at < where.until)
        rows = (await self.session.scalars(AUDIT_ORDER.apply(statement, cursor, limit))).all()
        return page_of(rows, limit, AUDIT_ORDER)

    @classmethod
    async def insert(cls, connection: AsyncConnection, rows: Iterable[Mapping[str, object]]) -> None:
        """Insert audit rows in one statement, in a transaction of its own on `connection`."""
        async with connection.begin():
            await connection.execute(cls._INSERT, [{name: row.get(name) for name in cls.COLUMNS} for row in rows])
