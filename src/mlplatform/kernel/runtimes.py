"""Typed lookup of the modules' live objects: one runtime per module, found by its class.

A module declares `Module.runtime`, a factory that builds its runtime from the platform context without
doing I/O; `create_app` builds and starts the runtimes in module order and stops them in reverse. Code
that needs another module's live objects asks its `api.py`, which looks the runtime up here by class:
`platform.runtimes.get(GatewayRuntime)`; a module that may be absent is asked with `find`.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from mlplatform.kernel.errors import Unavailable

R = TypeVar("R")


class ModuleRuntime(Protocol):
    """A module's live objects for one app instance (caches, background loops, clients)."""

    component: str
    """What a 503 names while the runtime is not running (`gateway`, `mlflow`, `feast` ...)."""

    async def start(self) -> None:
        """Open connections and start background work; called once, in module order."""

    async def stop(self) -> None:
        """Release what `start` took; called once, in reverse module order, even after a failed start."""


class Runtimes:
    """The running runtimes of one app, keyed by their class."""

    def __init__(self) -> None:
        self._by_class: dict[type, object] = {}

    def add(self, runtime: object) -> None:
        kind = type(runtime)
        if kind in self._by_class:
            raise RuntimeError(f"a {kind.__name__} is already registered")
        self._by_class[kind] = runtime

    def discard(self, kind: type) -> None:
        self._by_class.pop(kind, None)

    def find(self, kind: type[R]) -> R | None:
        """The runtime of class `kind`, or None when its module is not part of this app (or stopped)."""
        runtime = self._by_class.get(kind)
        return runtime if isinstance(runtime, kind) else None

    def get(self, kind: type[R]) -> R:
        """The runtime of class `kind`; a 503 naming its component when it is not running."""
        runtime = self.find(kind)
        if runtime is None:
            component = getattr(kind, "component", kind.__name__)
            raise Unavailable(f"{component} is not running in this process", component=component)
        return runtime
