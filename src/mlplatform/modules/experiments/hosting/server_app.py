"""MLflow's ASGI app (`mlflow.server.fastapi_app:app`) as the platform runs it, in whichever process serves it.

Two changes to the stock app, both pinned by contract tests against MLflow's source:
- its two `@app.middleware("http")` functions become plain ASGI (`mlflow_middleware.py`: less work on
  the event loop per request);
- in process (`threads` given), its Flask bridge runs on MLflow's own `anyio.CapacityLimiter` instead of
  the default thread pool Litestar's sync handlers share. The separate server process has nothing else
  on its default pool and sizes that instead (`server_process.py`).

Importing MLflow's server reads its configuration from the environment: set it first
(`MlflowConfig.environment()`).
"""

from __future__ import annotations

from typing import Any, cast

import anyio
from anyio import to_thread

from mlplatform.modules.experiments.hosting.asgi_types import ASGIApp, Receive, Scope, Send
from mlplatform.modules.experiments.hosting.per_loop import PerLoop


class UnexpectedMlflowLayout(RuntimeError):
    """MLflow's app is not built the way the platform's changes to it expect (an MLflow upgrade)."""


def import_server_app(*, bridge_threads: int | None) -> ASGIApp:
    """`mlflow.server.fastapi_app:app` with the changes above; `bridge_threads` sizes the Flask bridge's own
    limiter (None: leave the bridge on the default pool)."""
    import warnings

    with warnings.catch_warnings():
        # MLflow itself imports the deprecated starlette.middleware.wsgi; not ours to fix.
        warnings.filterwarnings("ignore", message="starlette.middleware.wsgi is deprecated")
        from mlflow.server import fastapi_app

    from mlplatform.modules.experiments.hosting.mlflow_middleware import lighten_function_middlewares

    app: Any = fastapi_app.app
    if bridge_threads is not None:
        limiters = PerLoop(lambda: anyio.CapacityLimiter(bridge_threads))
        _route_flask_bridge_through_own_limiter(app, fastapi_app, limiters)
    lighten_function_middlewares(app)
    return cast(ASGIApp, app)


def _route_flask_bridge_through_own_limiter(
    app: Any, fastapi_app: Any, limiters: PerLoop[anyio.CapacityLimiter]
) -> None:
    """Swap the catch-all mount in front of MLflow's Flask app for the same bridge on our limiter.

    MLflow mounts `_EfficientWSGIMiddleware(flask_app)` at `/`; its responder runs every Flask request
    with `anyio.to_thread.run_sync` on the default limiter, the 40 threads Litestar's sync handlers
    use too. The replacement differs only in the limiter it passes.
    """
    from starlette.middleware.wsgi import WSGIResponder, build_environ
    from starlette.routing import Mount

    mounts = [r for r in app.routes if isinstance(r, Mount) and isinstance(r.app, fastapi_app._EfficientWSGIMiddleware)]
    if len(mounts) != 1:
        raise UnexpectedMlflowLayout("unexpected MLflow app layout: no single Flask mount at '/'")
    flask_app = cast(Any, mounts[0].app).app

    class LimitedResponder(WSGIResponder):
        async def __call__(self, receive: Receive, send: Send) -> None:
            chunks: list[bytes] = []
            more_body = True
            while more_body:
                message = await receive()
                if chunk := message.get("body", b""):
                    chunks.append(chunk)
                more_body = message.get("more_body", False)
            environ = build_environ(self.scope, b"".join(chunks))
            del chunks
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(self.sender, send)
                async with self.stream_send:
                    await to_thread.run_sync(self.wsgi, environ, self.start_response, limiter=limiters.get())
            if self.exc_info is not None:
                raise self.exc_info[0].with_traceback(self.exc_info[1], self.exc_info[2])

    class LimitedWSGI:
        def __init__(self, wsgi_app: Any) -> None:
            self.app = wsgi_app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1000})
                return
            await LimitedResponder(self.app, scope)(receive, send)

    mounts[0].app = LimitedWSGI(flask_app)
    app.middleware_stack = None  # rebuilt on the next call
