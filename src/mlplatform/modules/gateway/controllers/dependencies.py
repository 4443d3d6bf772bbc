"""Dependencies shared by the gateway's controllers."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.constraints import parameter_of
from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.gateway.api import Principal, current_principal
from mlplatform.modules.gateway.names import ProjectName, Subject
from mlplatform.modules.gateway.repositories import AuditFilter
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.modules.gateway.schemas import ActionName, AuditOutcome, Instant
from mlplatform.modules.gateway.services import GatewayService


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return current_principal(request)


def provide_gateway_service(db_session: AsyncSession) -> GatewayService:
    return GatewayService(db_session)


def provide_gateway(platform: PlatformContext) -> GatewayRuntime:
    return platform.runtimes.get(GatewayRuntime)


def provide_audit_filter(
    project: Annotated[ProjectName | None, parameter_of(ProjectName)] = None,
    actor: Annotated[Subject | None, parameter_of(Subject, description="Who acted.")] = None,
    action: Annotated[
        ActionName | None, parameter_of(ActionName, description="Operation id of the route, or an event name.")
    ] = None,
    outcome: AuditOutcome | None = None,
    since: Annotated[Instant | None, Parameter(description="Events at or after this instant.")] = None,
    until: Annotated[Instant | None, Parameter(description="Events before this instant.")] = None,
) -> AuditFilter:
    return AuditFilter(project=project, actor=actor, action=action, outcome=outcome, since=since, until=until)
