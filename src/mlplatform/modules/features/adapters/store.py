"""Feast's `FeatureStore`, one per project, used only from worker threads with the module's own limiter.

Every Feast call is synchronous and holds the GIL (FACTS.md); running them on the event loop would
stall every request. `FeastGateway.run` sends a call to a thread through a `CapacityLimiter` of its
own, so Feast work never starves the thread pool other integrations use.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import anyio
import structlog

from mlplatform.kernel.errors import Unavailable
from mlplatform.modules.features.adapters.feast_config import FeastSettings

if TYPE_CHECKING:
    from feast import FeatureStore

log = structlog.get_logger("mlplatform.features")

P = ParamSpec("P")
T = TypeVar("T")

FEAST_THREADS = 4
REGISTRY_STORE = "health"
"""The store whose registry does project-independent work (the readiness check, the registry port): the SQL
registry holds every project, whichever project its `FeatureStore` was built for."""

_FEAST_ENV = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR")
"""Importing Feast (`feast.metrics`) points prometheus_client at a multiprocess directory through these
variables, which empties the platform's own `/metrics`. They are put back after every Feast call."""
_ENV_BEFORE = {name: os.environ.get(name) for name in _FEAST_ENV}


def restore_environment() -> None:
    for name, value in _ENV_BEFORE.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class FeastGateway:
    def __init__(self, settings: FeastSettings, *, threads: int = FEAST_THREADS) -> None:
        self.settings = settings
        self.limiter = anyio.CapacityLimiter(threads)
        self._stores: dict[str, FeatureStore] = {}
        self._lock = threading.Lock()
        """Guards `_stores` only (held for dictionary operations, never while a store is built)."""
        self._build_lock = threading.Lock()
        self._loading: asyncio.Future[None] | None = None

    def loading(self, done: asyncio.Future[None]) -> None:
        """Feast is being imported in the background until `done` resolves: calls wait for it first."""
        self._loading = done

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking `fn` in a worker thread (Redis/database outages become 503s naming them).

        While Feast is still being imported, calls wait on the event loop rather than in threads stuck
        behind the import lock: no thread or limiter slot is held, and a cancelled request leaves nothing
        running behind it."""
        if self._loading is not None and not self._loading.done():
            await asyncio.shield(self._loading)
        try:
            return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self.limiter)
        except Exception as exc:
            raise translate(exc) from exc
        finally:
            restore_environment()

    def store(self, project: str) -> FeatureStore:
        """The project's FeatureStore (blocking: call from a worker thread).

        Stores are built one at a time, registry included: Feast creates its registry lazily, and two
        registries initialising at once race to create the same tables ("table projects already
        exists"). The build lock is not the one `close` takes, so closing never waits for a build."""
        with self._lock:
            store = self._stores.get(project)
        if store is not None:
            return store
        with self._build_lock:
            with self._lock:
                store = self._stores.get(project)
            if store is None:
                from feast import FeatureStore, RepoConfig

                store = FeatureStore(config=RepoConfig(**self.settings.repo_config(project)))
                store.registry  # noqa: B018 - created now, under the lock
                with self._lock:
                    self._stores[project] = store
            return store

    def forget(self, project: str) -> None:
        """Drop the project's cached store (and the registry cache it holds): after the project was purged."""
        with self._lock:
            store = self._stores.pop(project, None)
        registry = getattr(store, "_registry", None)
        engine = getattr(registry, "write_engine", None)
        if engine is not None:
            engine.dispose()

    def close(self) -> None:
        with self._lock:
            stores = list(self._stores.values())
            self._stores.clear()
        for store in stores:
            registry = getattr(store, "_registry", None)
            engine = getattr(registry, "write_engine", None)
            if engine is not None:
                engine.dispose()


def translate(exc: BaseException) -> BaseException:
    """Infrastructure failures inside Feast as platform errors; everything else unchanged."""
    from mlplatform.kernel.errors import PlatformError

    if isinstance(exc, PlatformError):
        return exc
    module = type(exc).__module__
    if module.startswith("redis") and type(exc).__name__ in {"ConnectionError", "TimeoutError", "BusyLoadingError"}:
        return Unavailable(f"Redis is unreachable: {exc}", component="redis")
    if module.startswith(("sqlalchemy", "psycopg")) and "connect" in str(exc).lower():
        return Unavailable("the feature registry database is unreachable", component="database")
    return exc


def load_feast() -> Any:
    """Import Feast (4-6 s the first time): done in a thread at start-up so no request pays for it."""
    import feast

    restore_environment()
    return feast
