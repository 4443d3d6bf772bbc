"""Dependencies shared by the gateway's controllers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
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


DATE_TIME = {"format": "date-time"}


def provide_audit_filter(
    project: Annotated[ProjectName | None, parameter_of(ProjectName)] = None,
    actor: Annotated[Subject | None, parameter_of(Subject, description="Who acted.")] = None,
    action: Annotated[
        ActionName | None, parameter_of(ActionName, description="Operation id of the route, or an event name.")
    ] = None,
    outcome: AuditOutcome | None = None,
    since: Annotated[
        str | None, Parameter(schema_extra=DATE_TIME, description=f"Events at or after this {INSTANT}.")
    ] = None,
    until: Annotated[
        str | None, Parameter(schema_extra=DATE_TIME, description=f"Events before this {INSTANT}.")
    ] = None,
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
Instant = Annotated[datetime, msgspec.Meta(tz=True)]


def _instant(parameter: str, value: str | None) -> datetime | None:
    """`value` read as the document's `date-time` (RFC 3339, offset included), the way msgspec reads one in a
    body. Litestar would read a query `datetime` more loosely (a number as a timestamp, a time without offset,
    which the database then refuses), so the parameter is taken as text and read here."""
    if value is None:
        return None
    try:
        return msgspec.convert(value, Instant)
    except msgspec.ValidationError as exc:
        raise Invalid(f"{parameter}: {exc} (e.g. 2026-01-31T09:00:00Z)", parameter=parameter) from None
