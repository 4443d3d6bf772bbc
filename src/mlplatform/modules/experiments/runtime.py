"""The in-process MLflow tracking server: configured at module start-up, imported lazily.

`import mlflow.server` costs ~3.5 s and ~200 MB and reads its configuration from the environment at
import, so:
- `MlflowRuntime.start()` (the module's on_startup hook) only computes and applies the environment;
- `await runtime.app()` / `await runtime.stores()` import MLflow in a worker thread on first use (the
  first `/mlflow` or typed-API request) — or right after start-up, in the background, when
  `preload=True` (production) — so `mlplatform serve` is ready as fast without MLflow as with it.

MLflow's state (its stores, artifact repository and middleware) is process-wide. One process serves
one MLflow configuration; a later app in the same process (test suites) may re-point MLflow at other
stores once no other app is using it.

All of MLflow's blocking work runs on worker threads bounded by MLflow's own `anyio.CapacityLimiter`s,
separate from the default pool Litestar's sync handlers use: the WSGI bridge in front of MLflow's Flask
app (`MlflowRuntime.bridge_limiter`) and the platform's own calls into MLflow's stores (`store_limiter`).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import anyio
import structlog
from anyio import to_thread

from mlplatform.kernel.errors import Unavailable
from mlplatform.modules.experiments.asgi_types import ASGIApp, Receive, Scope, Send
from mlplatform.modules.experiments.config import MlflowConfig

log = structlog.get_logger("mlplatform.experiments")

T = TypeVar("T")

_CLIENT_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")

STORE_THREADS = 8
"""Threads for the platform's own calls into MLflow's stores (authorization look-ups, typed API)."""


class MlflowConfigurationError(RuntimeError):
    """MLflow cannot be configured as asked (schema outdated in production, another config in use)."""


@dataclass(frozen=True)
class Stores:
    """MLflow's tracking and model-registry stores (the same objects MLflow's handlers use)."""

    tracking: Any
    registry: Any


class _ProcessMlflow:
    """The one MLflow of this process: the configuration applied to it and the apps using it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config: MlflowConfig | None = None
        self.holders: set[int] = set()
        self.asgi_app: ASGIApp | None = None
        self.stores: Stores | None = None
        self.load_seconds: float | None = None

    def load(self, owner: int, config: MlflowConfig) -> tuple[ASGIApp, Stores]:
        """Apply `config` (if no other app holds another one), import MLflow's server and open its
        stores. Blocking; idempotent."""
        with self.lock:
            if self.config != config:
                if self.holders - {owner}:
                    raise MlflowConfigurationError(
                        "MLflow already serves another configuration in this process; "
                        "one process hosts one MLflow tracking server"
                    )
                os.environ.update(config.environment())
                self.config = config
                if self.asgi_app is not None:
                    self._repoint()
            self.holders.add(owner)
            if self.asgi_app is None:
                started = time.perf_counter()
                self.asgi_app = _import_server_app()
                self.load_seconds = time.perf_counter() - started
                log.info("mlflow_imported", seconds=round(self.load_seconds, 2))
            if self.stores is None:
                self.stores = _open_stores(config)
            return self.asgi_app, self.stores

    def release(self, owner: int) -> None:
        with self.lock:
            self.holders.discard(owner)

    def _repoint(self) -> None:
        """MLflow is imported already: make its handlers rebuild stores and artifact repository from
        the new environment. (Allowed hosts and CORS origins were read at import and stay as they were.)"""
        from mlflow.server import handlers

        handlers._tracking_store = None
        handlers._model_registry_store = None
        handlers._artifact_repo = None
        handlers._job_store = None
        self.stores = None


_PROCESS = _ProcessMlflow()

_bridge_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def bridge_limiter() -> anyio.CapacityLimiter:
    """The limiter of MLflow's WSGI bridge for the running event loop (limiters belong to one loop)."""
    loop = asyncio.get_running_loop()
    limiter = _bridge_limiters.get(loop)
    if limiter is None:
        total = _PROCESS.config.threads if _PROCESS.config is not None else 16
        limiter = _bridge_limiters[loop] = anyio.CapacityLimiter(total)
    return limiter


def _import_server_app() -> ASGIApp:
    """`mlflow.server.fastapi_app:app`, with its Flask bridge running on MLflow's own limiter and its two
    function middlewares as plain ASGI (`mlflow_middleware.py`: less work on the event loop)."""
    import warnings

    with warnings.catch_warnings():
        # MLflow itself imports the deprecated starlette.middleware.wsgi; not ours to fix.
        warnings.filterwarnings("ignore", message="starlette.middleware.wsgi is deprecated")
        from mlflow.server import fastapi_app

    from mlplatform.modules.experiments.mlflow_middleware import lighten_function_middlewares

    app: Any = fastapi_app.app
    _route_flask_bridge_through_own_limiter(app, fastapi_app)
    lighten_function_middlewares(app)
    return app


def _route_flask_bridge_through_own_limiter(app: Any, fastapi_app: Any) -> None:
    """Swap the catch-all mount in front of MLflow's Flask app for the same bridge on our limiter.

    MLflow mounts `_EfficientWSGIMiddleware(flask_app)` at `/`; its responder runs every Flask request
    with `anyio.to_thread.run_sync` on the default limiter, the 40 threads Litestar's sync handlers
    use too. The replacement differs only in the limiter it passes.
    """
    from starlette.middleware.wsgi import WSGIResponder, build_environ
    from starlette.routing import Mount

    mounts = [r for r in app.routes if isinstance(r, Mount) and isinstance(r.app, fastapi_app._EfficientWSGIMiddleware)]
    if len(mounts) != 1:
        raise MlflowConfigurationError("unexpected MLflow app layout: no single Flask mount at '/'")
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
                    await to_thread.run_sync(self.wsgi, environ, self.start_response, limiter=bridge_limiter())
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


def _open_stores(config: MlflowConfig) -> Stores:
    from mlflow.exceptions import MlflowException
    from mlflow.server import handlers

    from mlplatform.modules.experiments.migrations import mlflow_schema_status, upgrade_mlflow_schema_at

    current, head = mlflow_schema_status(config.backend_store_uri)
    if current is not None and current != head:
        if not config.auto_migrate:
            raise MlflowConfigurationError(
                f"MLflow's schema is at {current}, this MLflow needs {head}: run `mlplatform migrate`"
            )
        upgrade_mlflow_schema_at(config.backend_store_uri)
    elif current is None:
        # An empty database: MLflow would create its tables itself; do it with the migration lock held.
        upgrade_mlflow_schema_at(config.backend_store_uri)
    # Opening the stores also makes them the default tracking/registry URIs of the `mlflow` library in
    # this process (MLflow's server-side code relies on that), and exports them as MLFLOW_TRACKING_URI /
    # MLFLOW_REGISTRY_URI "so that subprocesses inherit them": database URIs, with credentials, that any
    # process the platform starts would use. Keep the in-memory defaults, undo the export.
    exported = {name: os.environ.get(name) for name in _CLIENT_URI_VARIABLES}
    try:
        tracking = handlers._get_tracking_store()
        registry = handlers._get_model_registry_store()
    except MlflowException as exc:
        raise MlflowConfigurationError(f"MLflow's stores cannot be opened: {exc.message}") from exc
    finally:
        for name, value in exported.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return Stores(tracking=tracking, registry=registry)


class MlflowRuntime:
    """One app's handle on the process' MLflow (kept in `platform.extras`)."""

    def __init__(self, config: MlflowConfig, *, preload: bool = False) -> None:
        self.config = config
        self.preload = preload
        self.store_limiter = anyio.CapacityLimiter(STORE_THREADS)
        self._loading: asyncio.Task[tuple[ASGIApp, Stores]] | None = None
        self._loaded = asyncio.Event()
        self._started = False

    async def start(self) -> None:
        self._started = True
        if self.preload:
            self._loading_task()

    async def stop(self) -> None:
        """Let a load in progress finish (it cannot be interrupted inside the import), then release MLflow."""
        self._started = False
        if self._loading is not None and not self._loading.done():
            await asyncio.wait([self._loading])
        _PROCESS.release(id(self))

    @property
    def loaded(self) -> bool:
        return (
            self._loading is not None
            and self._loading.done()
            and not self._loading.cancelled()
            and (self._loading.exception() is None)
        )

    def _loading_task(self) -> asyncio.Task[tuple[ASGIApp, Stores]]:
        if self._loading is None or (self._loading.done() and self._loading.exception() is not None):
            # A failed load is retried by the next request (a database that was down may be back).
            self._loading = asyncio.get_running_loop().create_task(
                to_thread.run_sync(_PROCESS.load, id(self), self.config), name="mlflow-load"
            )
            self._loading.add_done_callback(self._on_loaded)
        return self._loading

    def _on_loaded(self, task: asyncio.Task[tuple[ASGIApp, Stores]]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._loaded.set()

    async def wait_loaded(self) -> None:
        """Return once MLflow is loaded for this app, without causing the load (which stays lazy)."""
        await self._loaded.wait()

    async def _load(self) -> tuple[ASGIApp, Stores]:
        if not self._started:
            raise Unavailable("the experiments module is not started", component="mlflow")
        try:
            return await asyncio.shield(self._loading_task())
        except MlflowConfigurationError as exc:
            log.error("mlflow_unavailable", error=str(exc))
            raise Unavailable(str(exc), component="mlflow") from exc
        except Exception as exc:
            log.exception("mlflow_load_failed")
            raise Unavailable(f"MLflow could not start: {type(exc).__name__}: {exc}", component="mlflow") from exc

    async def app(self) -> ASGIApp:
        return (await self._load())[0]

    async def stores(self) -> Stores:
        return (await self._load())[1]

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking MLflow store call on a worker thread under MLflow's own limiter."""
        return await to_thread.run_sync(fn, *args, limiter=self.store_limiter)

    async def check(self) -> None:
        """Readiness probe: once loaded, one cheap store round trip; before that, nothing to check."""
        if not self.loaded:
            return
        stores = await self.stores()
        await self.call(stores.tracking.get_experiment, "0")
