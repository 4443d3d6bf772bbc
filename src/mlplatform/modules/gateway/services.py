"""The gateway's business rules: projects, members, principals and API keys. Services flush, never commit."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from mlplatform.kernel.events import publish
from mlplatform.kernel.jobs.model import JobStatus, KernelJob
from mlplatform.kernel.jobs.runtime import JobRuntime
from mlplatform.kernel.pagination import Page
from mlplatform.kernel.purge import PURGE_KIND
from mlplatform.modules.gateway import schemas
from mlplatform.modules.gateway.api import Principal, Role
from mlplatform.modules.gateway.credentials.api_keys import generate_api_key
from mlplatform.modules.gateway.events import ProjectDeleted
from mlplatform.modules.gateway.models import ApiKeyRow, AuditEvent, Membership, PrincipalRow, Project
from mlplatform.modules.gateway.repositories import (
    ApiKeyRepository,
    AuditFilter,
    AuditRepository,
    MembershipRepository,
    PrincipalRepository,
    ProjectRepository,
)

KINDS = {"user": "user", "service_account": "service_account"}


def _own_role(actor: Principal, project: str) -> Role:
    """The role `actor` manages members with (the route's guard already required at least maintainer)."""
    held = actor.role_in(project)
    if held is None:
        raise Forbidden(f"you have no role in project {project!r}")
    return held


def _check_outranks(own: Role, held: Role, subject: str, verb: str) -> None:
    """A member is changed or removed only by someone whose role is at least the member's."""
    if held > own:
        raise Forbidden(f"a {own.label} can not {verb} {subject}, who is {held.label} (a higher role than yours)")


class GatewayService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.projects = ProjectRepository(session)
        self.memberships = MembershipRepository(session)
        self.principals = PrincipalRepository(session)
        self.api_keys = ApiKeyRepository(session)
        self.audit = AuditRepository(session)

    # -- projects ---------------------------------------------------------------------------------
    async def create_project(self, data: schemas.ProjectCreate, actor: Principal) -> Project:
        existing = await self.projects.by_name(data.name)
        if existing is not None and existing.deleted_at is not None:
            raise Conflict(
                f"project {data.name!r} was deleted and its purge is pending: the name is free once purge job "
                f"{existing.purge_job_id} has finished",
                purge_job_id=str(existing.purge_job_id) if existing.purge_job_id else None,
            )
        if existing is not None:
            raise Conflict(f"project {data.name!r} already exists")
        project = Project(
            name=data.name, display_name=data.display_name, description=data.description, created_by=actor.subject
        )
        self.session.add(project)
        await self._flush_unique(f"project {data.name!r} already exists")
        self.session.add(
            Membership(project_id=project.id, principal_id=actor.id, role=Role.ADMIN, granted_by=actor.subject)
        )
        await self._flush_unique(f"project {data.name!r} already exists")
        return project

    async def list_projects(self, principal: Principal) -> list[tuple[Project, Role | None]]:
        rows = await self.projects.live_by_name()
        return [(p, principal.role_in(p.name)) for p in rows if principal.role_in(p.name) is not None]

    async def project(self, name: str) -> Project:
        project = await self.projects.live(name)
        if project is None:
            raise NotFound(f"project {name!r} not found")
        return project

    async def update_project(self, name: str, data: schemas.ProjectUpdate) -> Project:
        project = await self.project(name)
        if data.display_name is not None:
            project.display_name = data.display_name
        if data.description is not None:
            project.description = data.description
        project.updated_at = utcnow()
        await self.session.flush()
        return project

    async def delete_project(self, name: str, actor: Principal, jobs: JobRuntime) -> tuple[Project, KernelJob]:
        """Tombstone the project and submit its purge job (`kernel/purge.py`), in the caller's transaction.

        At once: the project is gone from every check and listing, nobody holds a role in it any more, and
        API keys scoped to it are revoked. Its name stays taken (409 on create) until the purge finished."""
        project = await self.projects.live(name, for_update=True)
        if project is None:  # also the second of two concurrent deletions
            raise NotFound(f"project {name!r} not found")
        now = utcnow()
        project.deleted_at = now
        project.updated_at = now
        await self.memberships.remove_all(project.id)
        await self.api_keys.revoke_scoped_to(name, now)
        job = await jobs.submit(
            self.session,
            kind=PURGE_KIND,
            params={"project": name, "project_id": str(project.id)},
            project=None,  # the job outlives the project; a new project of the same name must not list it
            created_by=actor.subject,
        )
        project.purge_job_id = job.id
        await publish(
            self.session,
            ProjectDeleted(
                aggregate_id=str(project.id), project=name, purge_job_id=str(job.id), deleted_by=actor.subject
            ),
        )
        await self.session.flush()
        return project, job

    async def purge_again(self, name: str, actor: Principal, jobs: JobRuntime) -> tuple[Project, KernelJob]:
        """Submit a new purge job for a deleted project whose last one ended without success."""
        project = await self.projects.by_name(name, for_update=True)
        if project is None:
            raise NotFound(f"no deleted project {name!r}: nothing to purge")
        if project.deleted_at is None:
            raise Conflict(f"project {name!r} is not deleted: delete it first")
        last = await self.projects.purge_job(project)
        if last is not None and not JobStatus(last.status).terminal:
            raise Conflict(f"purge job {last.id} of {name!r} is still {last.status}", purge_job_id=str(last.id))
        job = await jobs.submit(
            self.session,
            kind=PURGE_KIND,
            params={"project": name, "project_id": str(project.id)},
            project=None,
            created_by=actor.subject,
        )
        project.purge_job_id = job.id
        await self.session.flush()
        return project, job

    async def forget_deleted_project(self, name: str) -> int:
        """The purge's last step: remove the tombstone, which frees the name. Returns the rows removed."""
        removed = await self.projects.remove_tombstone(name)
        await self.session.flush()
        return removed

    # -- members ----------------------------------------------------------------------------------
    async def members(self, project_name: str) -> list[tuple[PrincipalRow, Membership]]:
        project = await self.project(project_name)
        return await self.memberships.members(project.id)

    async def put_member(
        self, project_name: str, subject: str, role: Role, actor: Principal
    ) -> tuple[PrincipalRow, Membership]:
        project = await self.project(project_name)
        principal = await self.principal_by_subject(subject)
        own = _own_role(actor, project_name)
        if role > own:
            raise Forbidden(f"a {own.label} can not grant the {role.label} role (only up to its own)")
        membership = await self.memberships.get(project.id, principal.id)
        if membership is not None:
            _check_outranks(own, Role(membership.role), subject, "change")
        if membership is None:
            membership = Membership(project_id=project.id, principal_id=principal.id, role=role)
            self.session.add(membership)
        elif membership.role == Role.ADMIN and role < Role.ADMIN:
            await self._keep_one_admin(project, principal.id)
        membership.role = role
        membership.granted_by = actor.subject
        membership.created_at = utcnow()
        await self.session.flush()
        return principal, membership

    async def remove_member(self, project_name: str, subject: str, actor: Principal) -> uuid.UUID:
        project = await self.project(project_name)
        principal = await self.principal_by_subject(subject)
        membership = await self.memberships.get(project.id, principal.id)
        if membership is None:
            raise NotFound(f"{subject} is not a member of {project_name!r}")
        _check_outranks(_own_role(actor, project_name), Role(membership.role), subject, "remove")
        if membership.role == Role.ADMIN:
            await self._keep_one_admin(project, principal.id)
        await self.session.delete(membership)
        await self.session.flush()
        return principal.id

    async def _keep_one_admin(self, project: Project, leaving: uuid.UUID) -> None:
        if await self.memberships.another_with_role(project.id, Role.ADMIN, besides=leaving) is None:
            raise Conflict(f"project {project.name!r} must keep at least one admin")

    # -- principals -------------------------------------------------------------------------------
    async def principal_by_subject(self, subject: str) -> PrincipalRow:
        kind, sep, name = subject.partition(":")
        if not sep or kind not in KINDS or not name:
            raise Invalid(f"principal: {subject!r} is not `user:<name>` or `service_account:<name>`")
        row = await self.principals.by_name(kind, name)
        if row is None:
            raise NotFound(f"principal {subject!r} not found")
        return row

    async def create_principal(
        self, *, kind: str, name: str, email: str | None = None, description: str = "", platform_admin: bool = False
    ) -> PrincipalRow:
        if await self.principals.exists(kind, name):
            raise Conflict(f"{kind}:{name} already exists")
        row = PrincipalRow(kind=kind, name=name, email=email, description=description, platform_admin=platform_admin)
        self.session.add(row)
        await self._flush_unique(f"{kind}:{name} already exists")
        return row

    async def list_principals(self, kind: str | None = None) -> list[PrincipalRow]:
        return await self.principals.listed(kind)

    async def set_disabled(self, subject: str, disabled: bool) -> PrincipalRow:
        row = await self.principal_by_subject(subject)
        row.disabled = disabled
        row.updated_at = utcnow()
        await self.session.flush()
        return row

    # -- API keys ---------------------------------------------------------------------------------
    async def create_api_key(self, caller: Principal, data: schemas.ApiKeyCreate) -> tuple[ApiKeyRow, str, str]:
        """Returns the stored row, the owner's subject and the plaintext key (shown once)."""
        if data.owner is None or data.owner == caller.subject:
            owner = await self.principals.get_one(caller.id)
        elif caller.platform_admin:
            owner = await self.principal_by_subject(data.owner)
        else:
            raise Forbidden("only platform admins can create keys for someone else")
        if data.project is not None:
            await self.project(data.project)
        generated = generate_api_key()
        row = ApiKeyRow(
            key_id=generated.key_id,
            secret_hash=generated.secret_hash,
            principal_id=owner.id,
            name=data.name,
            project=data.project,
            role_ceiling=Role.parse(data.role) if data.role else None,
            created_by=caller.subject,
            expires_at=utcnow() + timedelta(days=data.expires_in_days) if data.expires_in_days else None,
        )
        self.session.add(row)
        await self.session.flush()
        return row, owner.subject, generated.plaintext

    async def list_api_keys(self, caller: Principal, owner: str | None) -> list[tuple[ApiKeyRow, str]]:
        owner_id: uuid.UUID | None = None  # every key
        if owner is not None:
            if owner != caller.subject and not caller.platform_admin:
                raise Forbidden("only platform admins can list someone else's keys")
            owner_id = (await self.principal_by_subject(owner)).id
        elif not caller.platform_admin:
            owner_id = caller.id
        return [(key, p.subject) for key, p in await self.api_keys.with_owners(owner_id)]

    async def revoke_api_key(self, caller: Principal, key_uuid: uuid.UUID) -> tuple[ApiKeyRow, str]:
        key = await self.api_keys.get(key_uuid)
        if key is None or (key.principal_id != caller.id and not caller.platform_admin):
            raise NotFound("API key not found")
        owner = await self.principals.get_one(key.principal_id)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            await self.session.flush()
        return key, owner.subject

    # -- audit log --------------------------------------------------------------------------------
    async def audit_events(
        self, where: AuditFilter, *, earlier_projects: bool, cursor: str | None, limit: int
    ) -> Page[AuditEvent]:
        """A page of the audit log, newest first. With a project and not `earlier_projects`, only the rows
        recorded since the current project of that name was created (not those of a deleted namesake)."""
        if where.project is not None and not earlier_projects:
            where = replace(where, project_created=await self.projects.created_at(where.project))
        return await self.audit.page(where, cursor=cursor, limit=limit)

    async def _flush_unique(self, message: str) -> None:
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as exc:
            raise Conflict(message) from exc
