"""MLflow's server in its own process: `python -m mlplatform.modules.experiments.server_process`.

Started by the platform (`worker.py`), never by hand. MLflow's request handling — FastAPI routing, the
Flask handlers, JSON (de)serialization — is pure-Python CPU work under the GIL; in the platform's process it
competes with the event loop that serves every other route. Here it has its own interpreter, so a burst of
tracking calls costs the platform only forwarding bytes.

The process serves MLflow's ASGI app with uvicorn on a Unix socket in a private folder (the platform's
gateway in front of it has already authenticated and authorized each request). Its configuration is the
environment the platform computed (`MlflowConfig.environment()`). Per request, three headers the platform
sets (and strips from what clients send) carry what the socket cannot: the mount's `root_path`, the
client's scheme and address. It runs at a lower CPU priority than the platform
(`experiments.server_niceness`): under CPU contention MLflow traffic yields to the platform's other
routes. It exits when the platform closes its stdin (or dies), or on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import threading

import uvicorn
from anyio import to_thread

from mlplatform.modules.experiments.asgi_types import ASGIApp, Receive, Scope, Send

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


async def _serve(socket_path: str, threads: int) -> None:
    from mlplatform.modules.experiments.server_app import import_server_app

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
    server = uvicorn.Server(config)
    loop = asyncio.get_running_loop()

    def exit_when_parent_goes() -> None:
        sys.stdin.buffer.read()  # returns at EOF: the platform closed the pipe or died
        loop.call_soon_threadsafe(setattr, server, "should_exit", True)

    threading.Thread(target=exit_when_parent_goes, name="parent-watch", daemon=True).start()
    await server.serve()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--socket", required=True, help="Unix socket path to listen on")
    parser.add_argument("--threads", type=int, required=True, help="threads for MLflow's blocking handlers")
    parser.add_argument("--niceness", type=int, default=0, help="lower this process' CPU priority by this much")
    args = parser.parse_args(argv)
    if args.niceness:
        os.nice(args.niceness)
    asyncio.run(_serve(args.socket, args.threads))


if __name__ == "__main__":
    main()
