"""Dependencies shared by the gateway's controllers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.gateway.api import Principal, current_principal
from mlplatform.modules.gateway.repositories import AuditFilter
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.modules.gateway.services import GatewayService


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return current_principal(request)


def provide_gateway_service(db_session: AsyncSession) -> GatewayService:
    return GatewayService(db_session)


def provide_gateway(platform: PlatformContext) -> GatewayRuntime:
    return platform.runtimes.get(GatewayRuntime)


def provide_audit_filter(
    project: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditFilter:
    return AuditFilter(project=project, actor=actor, action=action, outcome=outcome, since=since, until=until)
