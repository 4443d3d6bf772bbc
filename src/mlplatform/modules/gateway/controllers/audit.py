"""Reading the audit log."""

from __future__ import annotations

from datetime import datetime

from litestar import get
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import Forbidden, Invalid
from mlplatform.kernel.pagination import Page, check_limit, decode_cursor, make_page
from mlplatform.modules.gateway.api import Principal, Role, requires_authenticated
from mlplatform.modules.gateway.models import AuditEvent, Project
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.modules.gateway.schemas import AuditEventOut


@get(
    "/api/v1/audit-events",
    tags=["audit"],
    guards=[requires_authenticated],
    summary="Audit log, newest first",
    description=(
        "Platform admins see everything; a project admin sees the events of `project`. With `project`, only rows "
        "recorded since that project was created are listed: rows of an earlier, deleted project of the same name "
        "are kept but not shown as the new project's (platform admins can ask for them with `earlier_projects`)."
    ),
)
async def list_audit_events(
    db_session: AsyncSession,
    principal: Principal,
    gateway: GatewayRuntime,
    project: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    earlier_projects: bool = False,
) -> Page[AuditEventOut]:
    if not principal.platform_admin and (project is None or not principal.can(project, Role.ADMIN)):
        raise Forbidden("the audit log is for platform admins, or project admins with `project` set")
    if earlier_projects and not principal.platform_admin:
        raise Forbidden("earlier_projects: only platform admins see the audit rows of deleted projects")
    size = check_limit(limit)
    await gateway.audit.flush()  # rows of requests this process answered a moment ago are visible at once
    statement = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(size + 1)
    if project is not None and not earlier_projects:
        created = await db_session.scalar(
            select(Project.created_at).where(Project.name == project, Project.deleted_at.is_(None))
        )
        if created is not None:
            statement = statement.where(AuditEvent.occurred_at >= created)
    for column, value in (
        (AuditEvent.project, project),
        (AuditEvent.actor, actor),
        (AuditEvent.action, action),
        (AuditEvent.outcome, outcome),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if since is not None:
        statement = statement.where(AuditEvent.occurred_at >= since)
    if until is not None:
        statement = statement.where(AuditEvent.occurred_at < until)
    if cursor is not None:
        (last_id,) = decode_cursor(cursor, sort="audit", arity=1)
        if not isinstance(last_id, int):
            raise Invalid("cursor: not a cursor issued by this API", parameter="cursor")
        statement = statement.where(AuditEvent.id < last_id)
    rows = (await db_session.scalars(statement)).all()
    page = make_page(rows, limit=size, sort="audit", key=lambda r: [r.id])
    return Page(
        items=[
            AuditEventOut(
                id=r.id,
                occurred_at=r.occurred_at,
                actor=r.actor,
                action=r.action,
                method=r.method,
                path=r.path,
                project=r.project,
                resource=r.resource,
                outcome=r.outcome,
                status_code=r.status_code,
                request_id=r.request_id,
                client_addr=r.client_addr,
                detail=r.detail,
            )
            for r in page.items
        ],
        next_cursor=page.next_cursor,
    )
