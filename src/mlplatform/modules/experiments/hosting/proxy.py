"""An ASGI app that forwards each request to MLflow's server process over its Unix socket.

It stands where MLflow's own ASGI app stands in process (the gate calls it with the same scope), so
everything in front of it — authentication, authorization, audit, rate limits, events — is unchanged.
Bodies stream both ways: a request body is read from ASGI `receive` as the socket accepts it, a response
body is sent on as it arrives (artifact downloads are not buffered here); a body that is small and whole
anyway (an API call's JSON) goes in one piece. If the process does not answer
(it died), the request gets MLflow's `TEMPORARILY_UNAVAILABLE` with status 503 and `Retry-After`, which the
MLflow client retries; the worker's supervisor has already seen the death and is restarting the process (a
request also asks for a restart, in case). The warning for it is logged at most once per 10 s, with a count.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import aiohttp
import structlog
from anyio import to_thread
from yarl import URL

from mlplatform.modules.experiments.authz.errors import TEMPORARILY_UNAVAILABLE, send_error
from mlplatform.modules.experiments.hosting.asgi_types import Receive, Scope, Send
from mlplatform.modules.experiments.hosting.log_throttle import Throttle
from mlplatform.modules.experiments.hosting.per_loop import PerLoop
from mlplatform.modules.experiments.hosting.server_process import (
    CLIENT_HEADER,
    PRIVATE_HEADERS,
    ROOT_PATH_HEADER,
    SCHEME_HEADER,
)

log = structlog.get_logger("mlplatform.experiments")

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
"""Headers that describe one connection, not the message (RFC 9110 §7.6.1); each side frames its own body
(a request without a length is sent on chunked, as it came)."""
NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
"""Headers aiohttp would add that the platform's client did not send: MLflow sees the request as sent."""
CONNECT_TIMEOUT_SECONDS = 5.0
UNREACHABLE_LOG_INTERVAL_SECONDS = 10.0
"""While MLflow's server is down every request fails alike: one warning per interval (with a count) says it."""
RETRY_AFTER_SECONDS = b"2"
WHOLE_RESPONSE_BYTES = 256 * 1024
"""Responses of at most this declared size are read whole and sent on in one message; larger or unsized
ones (artifact downloads) stream."""


class ClientDisconnected(Exception):
    """The platform's client went away while its request body was being forwarded."""


async def _request_body(receive: Receive) -> bytes | AsyncIterator[bytes]:
    """The body in one piece when it came in one ASGI message (every tracking API call: the gate has read
    it already), else a stream of its chunks as they arrive (artifact uploads)."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    first: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return first
    return _rest_of_body(first, receive)


async def _rest_of_body(first: bytes, receive: Receive) -> AsyncIterator[bytes]:
    if first:
        yield first
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        if chunk := message.get("body", b""):
            yield chunk
        more = message.get("more_body", False)


class MlflowProxy:
    """aiohttp's client: its C HTTP parser keeps the forwarding cost per request small on the event loop
    that also serves the rest of the platform (measured in docs/experiments.md, Speed)."""

    def __init__(self, socket_path: str, *, revive: Callable[[], None]) -> None:
        self.socket_path = socket_path
        self.revive = revive
        # One connection pool per event loop: its connections belong to the loop that opened them.
        self._sessions = PerLoop(self._new_session)
        self._reviving: asyncio.Future[None] | None = None
        self._unreachable_log = Throttle(UNREACHABLE_LOG_INTERVAL_SECONDS)

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=self.socket_path, limit=0, limit_per_host=0),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_SECONDS),
        )

    async def aclose(self) -> None:
        """Close this event loop's connections (an app stopping; the process itself keeps running)."""
        session = self._sessions.pop()
        if session is not None:
            await session.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers: list[tuple[str, str]] = []
        sized = chunked = False
        for name, value in scope["headers"]:
            if name == b"transfer-encoding":
                chunked = True
            elif name not in HOP_BY_HOP and name not in PRIVATE_HEADERS:
                sized = sized or name == b"content-length"
                headers.append((name.decode("latin-1"), value.decode("latin-1")))
        headers.append((ROOT_PATH_HEADER.decode(), scope.get("root_path", "")))
        headers.append((SCHEME_HEADER.decode(), scope.get("scheme", "http")))
        if client_address := scope.get("client"):
            headers.append((CLIENT_HEADER.decode(), f"{client_address[0]}:{client_address[1]}"))
        url = URL.build(
            scheme="http",
            host="mlflow",
            path=quote(scope["path"], safe="/:@!$&'()*+,;=~"),
            query_string=scope.get("query_string", b"").decode("latin-1"),
            encoded=True,
        )
        try:
            response = await self._sessions.get().request(
                scope["method"],
                url,
                headers=headers,
                data=await _request_body(receive) if sized or chunked else None,
                skip_auto_headers=NO_AUTO_HEADERS,
                allow_redirects=False,
                compress=None,
            )
        except ClientDisconnected:
            return
        except aiohttp.ClientConnectionError as exc:
            if (extra := self._unreachable_log.ready()) is not None:
                log.warning("mlflow_worker_unreachable", error=f"{type(exc).__name__}: {exc}", **extra)
            self._revive_soon()
            await send_error(
                send,
                503,
                TEMPORARILY_UNAVAILABLE,
                "MLflow's server is restarting; retry shortly",
                headers=[(b"retry-after", RETRY_AFTER_SECONDS)],
            )
            return
        complete = False
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [(k.lower(), v) for k, v in response.raw_headers if k.lower() not in HOP_BY_HOP],
                }
            )
            length = response.content_length
            if length is not None and length <= WHOLE_RESPONSE_BYTES:
                # An API answer: one message instead of a chunk and an empty end (each send passes the
                # platform's middleware chain).
                await send({"type": "http.response.body", "body": await response.read(), "more_body": False})
            else:
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            complete = True
        finally:
            if complete:
                response.release()  # the connection goes back to the pool
            else:
                response.close()  # part of the body is unread: the connection cannot be reused

    def _revive_soon(self) -> None:
        """Restart the process if it died, once at a time, without holding up this request."""
        if self._reviving is not None and not self._reviving.done():
            return
        self._reviving = asyncio.ensure_future(to_thread.run_sync(self.revive))
        self._reviving.add_done_callback(_log_revive_failure)


def _log_revive_failure(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and (exc := done.exception()) is not None:
        log.error("mlflow_worker_restart_failed", error=f"{type(exc).__name__}: {exc}")
