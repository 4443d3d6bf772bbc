"""Platform-level routes: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.openapi import ResponseSpec
from litestar.plugins.prometheus import PrometheusController
from litestar.types import ControllerRouterHandler

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.health import Readiness

PUBLIC = {"public": True}
"""Route `opt` marking a route reachable without credentials (the gateway honours it)."""


@get("/health/live", tags=["system"], opt=PUBLIC, summary="Liveness: the process answers", sync_to_thread=False)
def health_live() -> dict[str, Any]:
    return {"status": "up"}


@get(
    "/health/ready",
    tags=["system"],
    opt=PUBLIC,
    summary="Readiness: every required component answers",
    description="200 when every required component is up; 503 naming the components that are down.",
    responses={503: ResponseSpec(Readiness, description="A required component is down: `components` says which.")},
)
async def health_ready(platform: PlatformContext) -> Response[Readiness]:
    readiness = await platform.health.readiness()
    return Response(readiness, status_code=503 if readiness.status == "down" else 200)


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False
    opt = PUBLIC
    openmetrics_format = False


SYSTEM_ROUTES: list[ControllerRouterHandler] = [health_live, health_ready, MetricsController]
