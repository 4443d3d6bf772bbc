"""An ASGI app that forwards each request to MLflow's server process over its Unix socket.

It stands where MLflow's own ASGI app stands in process (the gate calls it with the same scope), so
everything in front of it — authentication, authorization, audit, rate limits, events — is unchanged.
Bodies stream both ways: a request body is read from ASGI `receive` as the socket accepts it, a response
body is sent on as it arrives (artifact downloads are not buffered here). If the process does not answer
(it died), the request gets MLflow's `TEMPORARILY_UNAVAILABLE` with status 503, which the MLflow client
retries, and the process is restarted in the background.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import httpx
import structlog
from anyio import to_thread

from mlplatform.modules.experiments.asgi_types import Receive, Scope, Send
from mlplatform.modules.experiments.authz.errors import TEMPORARILY_UNAVAILABLE, send_error
from mlplatform.modules.experiments.server_process import (
    CLIENT_HEADER,
    PRIVATE_HEADERS,
    ROOT_PATH_HEADER,
    SCHEME_HEADER,
)

log = structlog.get_logger("mlplatform.experiments")

HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer", b"upgrade"}
)
"""Headers that describe one connection, not the message (RFC 9110 §7.6.1). `transfer-encoding` is kept on
requests (it frames the body we forward) and dropped from responses (the platform's server re-frames)."""
CONNECT_TIMEOUT_SECONDS = 5.0


class ClientDisconnected(Exception):
    """The platform's client went away while its request body was being forwarded."""


class _RequestBody(httpx.AsyncByteStream):
    def __init__(self, receive: Receive) -> None:
        self.receive = receive

    async def __aiter__(self) -> AsyncIterator[bytes]:
        more = True
        while more:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            if chunk := message.get("body", b""):
                yield chunk
            more = message.get("more_body", False)


class MlflowProxy:
    def __init__(self, socket_path: str, *, connections: int, revive: Callable[[], None]) -> None:
        self.socket_path = socket_path
        self.connections = connections
        self.revive = revive
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._reviving: asyncio.Future[None] | None = None

    def _client(self) -> httpx.AsyncClient:
        """One connection pool per event loop (its connections belong to the loop that opened them)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=self.socket_path, retries=0),
                timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT_SECONDS),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=self.connections),
            )
        return client

    async def aclose(self) -> None:
        """Close this event loop's connections (an app stopping; the process itself keeps running)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP and k not in PRIVATE_HEADERS]
        headers += [
            (ROOT_PATH_HEADER, scope.get("root_path", "").encode("latin-1")),
            (SCHEME_HEADER, scope.get("scheme", "http").encode("latin-1")),
        ]
        if client_address := scope.get("client"):
            headers.append((CLIENT_HEADER, f"{client_address[0]}:{client_address[1]}".encode("latin-1")))
        framed = any(k in (b"content-length", b"transfer-encoding") for k, _ in headers)
        target = quote(scope["path"], safe="/:@!$&'()*+,;=~").encode("ascii")
        if query := scope.get("query_string", b""):
            target += b"?" + query
        request = httpx.Request(
            scope["method"],
            httpx.URL(scheme="http", host="mlflow", raw_path=target),
            headers=headers,
            stream=_RequestBody(receive) if framed else httpx.ByteStream(b""),
        )
        try:
            response = await self._client().send(request, stream=True)
        except ClientDisconnected:
            return
        except httpx.TransportError as exc:
            log.warning("mlflow_worker_unreachable", error=f"{type(exc).__name__}: {exc}")
            self._revive_soon()
            await send_error(send, 503, TEMPORARILY_UNAVAILABLE, "MLflow's server is restarting; retry shortly")
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k.lower(), v)
                        for k, v in response.headers.raw
                        if k.lower() not in HOP_BY_HOP and k.lower() != b"transfer-encoding"
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    def _revive_soon(self) -> None:
        """Restart the process if it died, once at a time, without holding up this request."""
        if self._reviving is not None and not self._reviving.done():
            return
        self._reviving = asyncio.ensure_future(to_thread.run_sync(self.revive))
        self._reviving.add_done_callback(_log_revive_failure)


def _log_revive_failure(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and (exc := done.exception()) is not None:
        log.error("mlflow_worker_restart_failed", error=f"{type(exc).__name__}: {exc}")
