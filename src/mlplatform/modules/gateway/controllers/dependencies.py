"""Dependencies shared by the gateway's controllers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Request
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.constraints import parameter_of
from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Invalid
from mlplatform.modules.gateway.api import Principal, current_principal
from mlplatform.modules.gateway.names import ProjectName, Subject
from mlplatform.modules.gateway.repositories import AuditFilter
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.modules.gateway.schemas import ActionName, AuditOutcome
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
    since: Annotated[datetime | None, Parameter(description=f"Events at or after this {INSTANT}.")] = None,
    until: Annotated[datetime | None, Parameter(description=f"Events before this {INSTANT}.")] = None,
) -> AuditFilter:
    return AuditFilter(
        project=project,
        actor=actor,
        action=action,
        outcome=outcome,
        since=_instant("since", since),
        until=_instant("until", until),
    )


INSTANT = "instant (RFC 3339 date-time, with its offset)"


def _instant(parameter: str, value: datetime | None) -> datetime | None:
    """`value` unless it lacks an offset: the document's `date-time` (RFC 3339) has one, and a time without
    one would be read in an unknown zone. (Litestar does not apply `msgspec.Meta(tz=True)` to a query.)"""
    if value is not None and value.utcoffset() is None:
        raise Invalid(f"{parameter}: a date-time needs its offset (`Z` or `+01:00`)", parameter=parameter)
    return value
