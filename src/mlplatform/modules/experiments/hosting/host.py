"""MLflow in the platform: configured at module start-up, loaded lazily, served in its own process.

`import mlflow.server` costs ~3.5 s and ~200 MB and reads its configuration from the environment at
import, so:
- the module's runtime (`ExperimentsRuntime.start()`) only applies the environment, and `MlflowHost.start()`
  imports nothing;
- `await host.app()` / `await host.stores()` load MLflow in a worker thread on first use (the
  first `/mlflow` or typed-API request) — or right after start-up, in the background, when
  `preload=True` (production) — so `mlplatform serve` is ready as fast without MLflow as with it.

Loading opens MLflow's stores in this process (migrating its schema first): the platform's own calls —
authorization look-ups, the typed API, events — use them. MLflow's server (its REST API, UI and artifact
proxy) runs by default in a separate process that `host.app()` forwards to (`worker.py`, `proxy.py`),
so a burst of MLflow requests does not compete for this process' GIL; `experiments.server = "in-process"`
serves it here instead (`server_app.py`).

MLflow's state (its stores, artifact repository and middleware) is process-wide. One process serves
one MLflow configuration; a later app in the same process (test suites) may re-point MLflow at other
stores once no other app is using it.

MLflow's blocking work here runs on worker threads bounded by MLflow's own `anyio.CapacityLimiter`s,
separate from the default pool Litestar's sync handlers use: the platform's own calls into MLflow's
stores (`store_limiter`) and, in process, the WSGI bridge in front of MLflow's Flask app.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import structlog
from anyio import to_thread

from mlplatform.kernel.errors import Unavailable
from mlplatform.modules.experiments.hosting.asgi_types import ASGIApp
from mlplatform.modules.experiments.hosting.config import MlflowConfig
from mlplatform.modules.experiments.hosting.server_app import import_server_app

if TYPE_CHECKING:
    from mlplatform.modules.experiments.hosting.worker import MlflowWorker

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
    """The one MLflow of this process: the configuration applied to it and the apps using it.

    The stores are always opened here (the platform's own calls use them); MLflow's server runs in its
    own process (`config.separate_process`, `worker.py`) behind a forwarding app, or in this one.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config: MlflowConfig | None = None
        self.holders: set[int] = set()
        # Apart from `lock`, which a load holds for seconds (import, migrations, the server process
        # starting): `release` runs on an event loop and must not wait for that.
        self._holders_lock = threading.Lock()
        self.asgi_app: ASGIApp | None = None
        self.stores: Stores | None = None
        self.worker: MlflowWorker | None = None
        self.load_seconds: float | None = None
        self._in_process_app: ASGIApp | None = None
        self._heap_frozen = False

    def load(self, owner: int, config: MlflowConfig) -> tuple[ASGIApp, Stores]:
        """Apply `config` (if no other app holds another one), open MLflow's stores (migrating its schema)
        and start its server. Blocking; idempotent."""
        with self.lock:
            if self.config != config:
                with self._holders_lock:
                    others = self.holders - {owner}
                if others:
                    raise MlflowConfigurationError(
                        "MLflow already serves another configuration in this process; "
                        "one process hosts one MLflow tracking server"
                    )
                os.environ.update(config.environment())
                self.config = config
                self._retire()
            with self._holders_lock:
                self.holders.add(owner)
            if self.stores is None:
                self.stores = _open_stores(config)
            if self.asgi_app is None:
                started = time.perf_counter()
                self.asgi_app = self._start_server(config)
                self.load_seconds = time.perf_counter() - started
                if not self._heap_frozen:
                    # After MLflow's import the heap holds ~350,000 long-lived objects, and each full
                    # collection walked them all (~0.25 s of held GIL, the event loop stalled). Frozen,
                    # they are out of every later collection.
                    gc.freeze()
                    self._heap_frozen = True
                log.info(
                    "mlflow_server_ready",
                    seconds=round(self.load_seconds, 2),
                    process="separate" if config.separate_process else "in-process",
                )
            return self.asgi_app, self.stores

    def release(self, owner: int) -> None:
        with self._holders_lock:
            self.holders.discard(owner)

    def revive(self) -> None:
        """Restart MLflow's server process if it died (called by the forwarding app)."""
        with self.lock:
            if self.worker is not None:
                self.worker.ensure_running()

    def server_alive(self) -> bool:
        return self.worker is None or self.worker.alive

    def shutdown(self) -> None:
        """Stop MLflow's server process (at interpreter exit)."""
        with self.lock:
            if self.worker is not None:
                self.worker.stop()
                self.worker = None
                self.asgi_app = None

    def _start_server(self, config: MlflowConfig) -> ASGIApp:
        if config.separate_process:
            from mlplatform.modules.experiments.hosting.proxy import MlflowProxy
            from mlplatform.modules.experiments.hosting.worker import MlflowWorker

            worker = MlflowWorker(config)
            try:
                worker.ensure_running()
            except Exception:
                worker.stop()
                raise
            self.worker = worker
            return MlflowProxy(worker.socket_path, revive=self.revive)
        if self._in_process_app is None:
            self._in_process_app = import_server_app(bridge_threads=config.threads)
        return self._in_process_app

    def _retire(self) -> None:
        """Another configuration: stop the server process, and make MLflow's handlers in this process
        rebuild stores and artifact repository from the new environment. (An in-process server keeps the
        allowed hosts and CORS origins it read at import.)"""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self.asgi_app = None
        if "mlflow.server.handlers" in sys.modules:
            from mlflow.server import handlers

            handlers._tracking_store = None
            handlers._model_registry_store = None
            handlers._artifact_repo = None
            handlers._job_store = None
        self.stores = None


_PROCESS = _ProcessMlflow()
atexit.register(_PROCESS.shutdown)


def _open_stores(config: MlflowConfig) -> Stores:
    from mlflow.exceptions import MlflowException
    from mlflow.server import handlers

    from mlplatform.modules.experiments.hosting.migrations import mlflow_schema_status, upgrade_mlflow_schema_at

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


class MlflowHost:
    """One app's handle on the process' MLflow (held by the module's `ExperimentsRuntime`)."""

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
        if self.loaded and self._loading is not None:
            from mlplatform.modules.experiments.hosting.proxy import MlflowProxy

            app = self._loading.result()[0]
            if isinstance(app, MlflowProxy):
                await app.aclose()
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
        """Readiness probe: once loaded, one cheap store round trip and MLflow's server process running
        (restarted here if it died); before that, nothing to check."""
        if not self.loaded:
            return
        if not _PROCESS.server_alive():
            try:
                await to_thread.run_sync(_PROCESS.revive)
            except Exception as exc:
                raise Unavailable(f"MLflow's server process cannot start: {exc}", component="mlflow") from exc
        stores = await self.stores()
        await self.call(stores.tracking.get_experiment, "0")
