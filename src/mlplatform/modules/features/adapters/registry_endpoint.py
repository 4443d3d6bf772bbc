"""The Feast registry port's lifetime in `mlplatform serve`: opened once Feast is loaded (in a worker thread,
never on the event loop), closed on shutdown, and the address the served `feature_store.yaml` names.

Address in the yaml: `feast_registry.public_address` when set (a gRPC-capable proxy in front); else the bound
host and port, with the host of `server.public_url` when the port is bound to every interface. Never a
request's `Host` header. With several `serve` workers on one fixed port, each worker opens it with
SO_REUSEPORT and the kernel spreads connections over them (each checks credentials the same way).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import structlog

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Unavailable
from mlplatform.modules.features.adapters.feast_config import WILDCARD_HOSTS
from mlplatform.modules.features.adapters.registry_access import RegistryAccess
from mlplatform.modules.features.adapters.store import REGISTRY_STORE, FeastGateway
from mlplatform.settings import FeastRegistrySettings

if TYPE_CHECKING:
    import grpc

log = structlog.get_logger("mlplatform.features")

COMPONENT = "feast-registry"
STOP_GRACE_SECONDS = 2.0


class RegistryEndpoint:
    def __init__(self, platform: PlatformContext, gateway: FeastGateway) -> None:
        self._platform = platform
        self._gateway = gateway
        self.settings: FeastRegistrySettings = platform.settings.feast_registry
        self._server: grpc.Server | None = None
        self._port: int | None = None
        self._starting: asyncio.Task[None] | None = None
        self._error: str | None = None
        self._stopped = False

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def start(self) -> None:
        """Open the port in the background (it waits for Feast's import; `mlplatform serve` does not)."""
        if self.enabled and self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._open(), name="feast-registry-start")

    async def _open(self) -> None:
        access = RegistryAccess(self._platform, asyncio.get_running_loop())
        reuse_port = self._platform.settings.server.workers > 1
        started = time.monotonic()

        def open_port() -> None:
            """In a worker thread; records the server itself, so `stop` finds it even if this start was
            cancelled while the thread ran."""
            from mlplatform.modules.features.adapters.registry_server import start_server

            registry = self._gateway.store(REGISTRY_STORE).registry
            if self._stopped:
                return
            self._server, self._port = start_server(
                registry, access, host=self.settings.host, port=self.settings.port, reuse_port=reuse_port
            )

        try:
            await self._gateway.run(open_port)
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            log.error("feast_registry_not_started", error=self._error)
            return
        log.info(
            "feast_registry_started",
            bound=f"{self.settings.host}:{self._port}",
            address=self.public_address(),
            seconds=round(time.monotonic() - started, 2),
        )

    async def address(self, *, wait_seconds: float = 30.0) -> str:
        """`host:port` the SDK connects to; waits for the port to open (Feast loading) up to `wait_seconds`."""
        if self.settings.public_address:
            return self.settings.public_address
        if not self.enabled:
            raise Unavailable(
                "the Feast registry endpoint is off here (MLPLATFORM_FEAST_REGISTRY__ENABLED) and no "
                "MLPLATFORM_FEAST_REGISTRY__PUBLIC_ADDRESS names one",
                component=COMPONENT,
            )
        if self._starting is not None and not self._starting.done():
            with anyio.move_on_after(wait_seconds):
                await asyncio.shield(self._starting)
        address = self.public_address()
        if address is None:
            reason = self._error or "still starting (Feast is loading)"
            raise Unavailable(f"the Feast registry endpoint is not running: {reason}", component=COMPONENT)
        return address

    def public_address(self) -> str | None:
        if self.settings.public_address:
            return self.settings.public_address
        if self._port is None:
            return None
        host = self.settings.host
        if host in WILDCARD_HOSTS:
            host = urlsplit(self._platform.settings.server.public_url or "").hostname or "127.0.0.1"
        return f"[{host}]:{self._port}" if ":" in host else f"{host}:{self._port}"

    def check(self) -> None:
        """Readiness: raises while the port is not open (off: nothing to check)."""
        if self.enabled and self._port is None:
            raise RuntimeError(self._error or "the Feast registry endpoint is starting (Feast is loading)")

    async def stop(self) -> None:
        self._stopped = True
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting  # at once while waiting for Feast; after the thread once it started
        server, self._server, self._port = self._server, None, None
        if server is not None:
            stopped = server.stop(STOP_GRACE_SECONDS)
            await anyio.to_thread.run_sync(stopped.wait, STOP_GRACE_SECONDS + 1)
