"""Reading the audit log."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import Provide
from litestar.params import Parameter
from msgspec import convert

from mlplatform.kernel.errors import Forbidden
from mlplatform.kernel.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from mlplatform.modules.gateway.api import Principal, Role, requires_authenticated
from mlplatform.modules.gateway.controllers.dependencies import provide_audit_filter, provide_gateway_service
from mlplatform.modules.gateway.repositories import AuditFilter
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.modules.gateway.schemas import AuditEventOut
from mlplatform.modules.gateway.services import GatewayService


@get(
    "/api/v1/audit-events",
    tags=["audit"],
    guards=[requires_authenticated],
    dependencies={
        "where": Provide(provide_audit_filter, sync_to_thread=False),
        "service": Provide(provide_gateway_service, sync_to_thread=False),
    },
    summary="Audit log, newest first",
    raises=[Forbidden],
    description=(
        "Platform admins see everything; a project admin sees the events of `project`. With `project`, only rows "
        "recorded since that project was created are listed: rows of an earlier, deleted project of the same name "
        "are kept but not shown as the new project's (platform admins can ask for them with `earlier_projects`)."
    ),
)
async def list_audit_events(
    service: GatewayService,
    principal: Principal,
    gateway: GatewayRuntime,
    where: AuditFilter,
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE, description="Events per page.")] = DEFAULT_PAGE_SIZE,
    earlier_projects: bool = False,
) -> Page[AuditEventOut]:
    project = where.project
    if not principal.platform_admin and (project is None or not principal.can(project, Role.ADMIN)):
        raise Forbidden("the audit log is for platform admins, or project admins with `project` set")
    if earlier_projects and not principal.platform_admin:
        raise Forbidden("earlier_projects: only platform admins see the audit rows of deleted projects")
    await gateway.audit.flush()  # rows of requests this process answered a moment ago are visible at once
    page = await service.audit_events(where, earlier_projects=earlier_projects, cursor=cursor, limit=limit)
    return page.map(lambda row: convert(row, AuditEventOut, from_attributes=True))
