"""MLflow's server in its own process: `python -m mlplatform.modules.experiments.hosting.server_process`.

Started by the platform (`worker.py`), never by hand. MLflow's request handling — FastAPI routing, the
Flask handlers, JSON (de)serialization — is pure-Python CPU work under the GIL; in the platform's process it
competes with the event loop that serves every other route. Here it has its own interpreter, so a burst of
tracking calls costs the platform only forwarding bytes.

The process serves MLflow's ASGI app with uvicorn on a Unix socket in a private folder (the platform's
gateway in front of it has already authenticated and authorized each request). Its configuration is the
environment the platform computed (`MlflowConfig.environment()`). Per request, three headers the platform
sets (and strips from what clients send) carry what the socket cannot: the mount's `root_path`, the
client's scheme and address. Once serving it runs at a lower CPU priority than the platform
(`experiments.server_niceness`): under CPU contention MLflow traffic yields to the platform's other
routes (it starts at the platform's priority, so a restart is not starved by the load waiting for it).
It exits when the platform closes its stdin (or dies), or on SIGTERM, and removes its socket folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from anyio import to_thread

from mlplatform.modules.experiments.hosting.asgi_types import ASGIApp, Receive, Scope, Send

ROOT_PATH_HEADER = b"x-mlplatform-root-path"
SCHEME_HEADER = b"x-mlplatform-scheme"
CLIENT_HEADER = b"x-mlplatform-client"
PRIVATE_HEADERS = frozenset({ROOT_PATH_HEADER, SCHEME_HEADER, CLIENT_HEADER})


class ForwardedScope:
    """Restore, from the platform's private headers, the scope fields MLflow would have seen in process."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            kept: list[tuple[bytes, bytes]] = []
            for name, value in scope["headers"]:
                if name == ROOT_PATH_HEADER:
                    scope["root_path"] = value.decode("latin-1")
                elif name == SCHEME_HEADER:
                    scope["scheme"] = value.decode("latin-1")
                elif name == CLIENT_HEADER:
                    host, _, port = value.decode("latin-1").rpartition(":")
                    scope["client"] = (host, int(port)) if port.isdigit() else None
                else:
                    kept.append((name, value))
            scope["headers"] = kept
        await self.app(scope, receive, send)


class _Server(uvicorn.Server):
    """uvicorn's server, with two changes:
    - no signal capture of its own: uvicorn re-raises a captured SIGTERM once it has shut down, which ends
      the process before it can remove its socket folder (`_serve` handles the signals);
    - the CPU priority is lowered once it listens: it starts (imports MLflow, opens its stores) at the
      platform's priority, so a restart after a crash is not starved by the load waiting for it."""

    def __init__(self, config: uvicorn.Config, niceness: int) -> None:
        super().__init__(config)
        self.niceness = niceness

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.niceness:
            lower_priority(self.niceness)


async def _serve(socket_path: str, threads: int, niceness: int) -> None:
    from mlplatform.modules.experiments.hosting.server_app import import_server_app

    # The default pool is MLflow's alone in this process: its size bounds concurrent Flask handlers (and
    # so the connections they hold), as the bridge's own limiter does in process.
    to_thread.current_default_thread_limiter().total_tokens = threads
    app = ForwardedScope(import_server_app(bridge_threads=None))
    gc.freeze()  # MLflow's ~350,000 import-time objects live as long as the process: out of every collection
    config = uvicorn.Config(
        app,
        uds=socket_path,
        access_log=False,
        log_level="warning",
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_keep_alive=300,
    )
    server = _Server(config, niceness)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        server.should_exit = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)

    def exit_when_parent_goes() -> None:
        sys.stdin.buffer.read()  # returns at EOF: the platform closed the pipe or died
        loop.call_soon_threadsafe(stop)

    threading.Thread(target=exit_when_parent_goes, name="parent-watch", daemon=True).start()
    try:
        await server.serve()
    finally:
        remove_socket_folder(socket_path)


def lower_priority(niceness: int) -> None:
    """Add `niceness` to every thread of this process (on Linux the nice value is per thread)."""
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for tid in threads:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, current + niceness))


def remove_socket_folder(socket_path: str) -> None:
    """Remove the socket and its private folder (the platform made it for this process alone; it stays if
    anything else is in it)."""
    path = Path(socket_path)
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--socket", required=True, help="Unix socket path to listen on")
    parser.add_argument("--threads", type=int, required=True, help="threads for MLflow's blocking handlers")
    parser.add_argument(
        "--niceness", type=int, default=0, help="once serving, lower this process' CPU priority by this much"
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.socket, args.threads, args.niceness))


if __name__ == "__main__":
    main()
