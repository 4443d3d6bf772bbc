"""Dependencies shared by the gateway's controllers."""

from __future__ import annotations

from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.gateway.api import Principal, current_principal
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.modules.gateway.services import GatewayService


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return current_principal(request)


def provide_gateway_service(db_session: AsyncSession) -> GatewayService:
    return GatewayService(db_session)


def provide_gateway(platform: PlatformContext) -> GatewayRuntime:
    return platform.runtimes.get(GatewayRuntime)
