"""Less work on the event loop per MLflow request: MLflow's two function middlewares as plain ASGI.

MLflow's FastAPI app adds two `@app.middleware("http")` functions: `workspace_context_middleware` (binds
the request's workspace, None unless MLflow workspaces are enabled) and `gateway_timing_middleware` (times
AI-gateway calls, passes everything else through). Starlette runs each such function through
`BaseHTTPMiddleware`, which for every request creates a task group, memory streams and a second task and
re-streams the response: measured, the two layers were ~40 % of the event-loop CPU MLflow's app spent per
request (see docs/experiments.md, Speed). Every MLflow request pays it on the loop that also serves the
rest of the platform.

The replacements do the same with MLflow's own functions: the workspace is resolved, bound and cleared
around the call (a workspace header on a server without workspaces still gets MLflow's error), and the
gateway timing middleware still runs, unchanged, for `/gateway/` paths. If MLflow's app does not have the
expected layout, it is left as it is (a contract test pins the layout for the MLflow version in use).
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from mlplatform.modules.experiments.hosting.asgi_types import ASGIApp, Receive, Scope, Send

log = structlog.get_logger("mlplatform.experiments")

WORKSPACE_MIDDLEWARE = "workspace_context_middleware"
GATEWAY_TIMING_MIDDLEWARE = "gateway_timing_middleware"


class WorkspaceContext:
    """`workspace_context_middleware` without `BaseHTTPMiddleware`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from fastapi.responses import JSONResponse
        from mlflow.exceptions import MlflowException
        from mlflow.server.workspace_helpers import WORKSPACE_HEADER_NAME, resolve_workspace_for_request_if_enabled
        from mlflow.utils.workspace_context import clear_server_request_workspace, set_server_request_workspace

        header_name = WORKSPACE_HEADER_NAME.lower().encode("latin-1")
        header = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == header_name), None)
        try:
            workspace = resolve_workspace_for_request_if_enabled(scope.get("path", ""), header)
        except MlflowException as exc:
            response = JSONResponse(status_code=exc.get_http_status_code(), content=json.loads(exc.serialize_as_json()))
            await response(scope, receive, send)
            return
        set_server_request_workspace(workspace.name if workspace else None)
        try:
            await self.app(scope, receive, send)
        finally:
            clear_server_request_workspace()


class GatewayTimingOnGatewayPaths:
    """`gateway_timing_middleware` (through `BaseHTTPMiddleware`, as MLflow runs it) for `/gateway/`
    paths only: for every other path that function only passes the request on."""

    def __init__(self, app: ASGIApp, dispatch: Any, prefix: str) -> None:
        from starlette.middleware.base import BaseHTTPMiddleware

        self.app = app
        self.prefix = prefix
        self.timed: Any = BaseHTTPMiddleware(app, dispatch=dispatch)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(self.prefix):
            await self.timed(scope, receive, send)
            return
        await self.app(scope, receive, send)


def lighten_function_middlewares(app: Any) -> bool:
    """Swap MLflow's two function middlewares for the plain-ASGI ones; False (and nothing changed)
    when MLflow's app does not look as expected."""
    from mlflow.server.handlers import _add_static_prefix
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware

    functions = {
        getattr(m.kwargs.get("dispatch"), "__name__", None): i
        for i, m in enumerate(app.user_middleware)
        if m.cls is BaseHTTPMiddleware
    }
    if set(functions) != {WORKSPACE_MIDDLEWARE, GATEWAY_TIMING_MIDDLEWARE}:
        log.warning("mlflow_middlewares_unexpected", found=sorted(str(f) for f in functions))
        return False
    middlewares = list(app.user_middleware)
    middlewares[functions[WORKSPACE_MIDDLEWARE]] = Middleware(WorkspaceContext)
    timing = middlewares[functions[GATEWAY_TIMING_MIDDLEWARE]]
    middlewares[functions[GATEWAY_TIMING_MIDDLEWARE]] = Middleware(
        GatewayTimingOnGatewayPaths, dispatch=timing.kwargs["dispatch"], prefix=_add_static_prefix("/gateway/")
    )
    app.user_middleware = middlewares
    app.middleware_stack = None  # rebuilt on the next call
    return True
