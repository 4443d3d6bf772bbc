"""Express routes: the common case of a few high-volume routes, answered before the framework's router.

Online feature reads are the platform's hot path: thousands per second, each worth well under a
millisecond of real work. Litestar's router, middleware stack, signature model and dependency injection
cost about as much again per request (measured in docs/features.md). A module can therefore register
an express route (method, path template, handler) for such a route. The handler returns an
`ExpressAnswer`, or `None` to decline: the request then continues, body replayed, through the full
stack, where the same route exists as an ordinary Litestar handler (the one in the OpenAPI document).
The express handler takes on only what it can answer exactly like the full stack would; everything
else (no or invalid credentials, browsers, malformed bodies) is declined and answered by the full stack.

Kept equal to the full stack: the request id and access log (`request_id_middleware` wraps this one),
problem+json for errors (the same document as the app's exception handlers, generic for a 5xx), and the
kernel's bad-input checks (a request failing them is declined, so the full stack refuses it). Express requests are
counted in their own Prometheus series, `mlplatform_express_requests_total{method,path,status_code}`
and `mlplatform_express_request_duration_seconds{method,path}`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send
from prometheus_client import Counter, Histogram

from mlplatform.kernel.bad_input import check_json_body, check_path, check_query_string
from mlplatform.kernel.errors import (
    PROBLEM_JSON,
    SERVER_ERROR_DETAIL,
    PlatformError,
    platform_error_document,
    problem_document,
)

log = structlog.get_logger("mlplatform.express")

PathParams = dict[str, str]
Headers = Sequence[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class ExpressAnswer:
    body: bytes
    status: int = 200
    media_type: bytes = b"application/json"
    headers: Headers = ()


ExpressHandler = Callable[[Scope, bytes, PathParams], Awaitable[ExpressAnswer | None]]


@dataclass(frozen=True)
class ExpressRoute:
    method: str
    path: str
    """Template with `{name}` (or Litestar's `{name:str}`) segments, e.g. `/feast/{project}/get-online-features`."""
    handler: ExpressHandler
    sampled_access_log: bool = False
    """Successful requests get the sampled access log of `SAMPLED_ACCESS_LOG` routes."""


EXPRESS_SAMPLED_LOG = "mlplatform.express.sampled_log"
"""Scope key set on answered requests of `sampled_access_log` routes (read by the access log)."""

_REQUESTS = Counter(
    "mlplatform_express_requests_total",
    "Requests answered by express routes",
    ["method", "path", "status_code"],
)
_DURATION = Histogram(
    "mlplatform_express_request_duration_seconds",
    "Duration of requests answered by express routes, in seconds",
    ["method", "path"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
_encoder = msgspec.json.Encoder()
_SEGMENT = re.compile(r"\{(\w+)(?::\w+)?\}")


def compile_path(template: str) -> re.Pattern[str]:
    parts = _SEGMENT.split(template)
    # split() alternates literal text and parameter names.
    pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(pattern)


def problem_answer(scope: Scope, exc: PlatformError, headers: Headers = ()) -> ExpressAnswer:
    """The problem+json answer the app's exception handler gives for `exc` (plus `headers`)."""
    document = platform_error_document(exc, scope["path"])
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()]
    return ExpressAnswer(
        body=_encoder.encode(document),
        status=exc.status_code,
        media_type=PROBLEM_JSON.encode(),
        headers=[*headers, *extra],
    )


def _internal_error(scope: Scope) -> ExpressAnswer:
    document = problem_document(status=500, detail=SERVER_ERROR_DETAIL, instance=scope["path"])
    return ExpressAnswer(body=_encoder.encode(document), status=500, media_type=PROBLEM_JSON.encode())


class _Series:
    """Prometheus children of one route, bound once (binding labels per request costs more than counting)."""

    def __init__(self, route: ExpressRoute) -> None:
        self.route = route
        self.duration = _DURATION.labels(route.method, route.path)
        self._counts: dict[int, Any] = {}

    def count(self, status: int) -> None:
        child = self._counts.get(status)
        if child is None:
            child = self._counts[status] = _REQUESTS.labels(self.route.method, self.route.path, str(status))
        child.inc()


def express_middleware(app: ASGIApp, routes: Sequence[ExpressRoute], *, max_body_bytes: int) -> ASGIApp:
    """Wrap `app` (the Litestar app) so `routes` are tried first."""
    if not routes:
        return app
    by_method: dict[str, list[tuple[re.Pattern[str], _Series]]] = {}
    for route in routes:
        by_method.setdefault(route.method, []).append((compile_path(route.path), _Series(route)))

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        candidates = by_method.get(scope["method"]) if scope["type"] == "http" else None  # type: ignore[typeddict-item]
        if candidates is None:
            await app(scope, receive, send)
            return
        path = scope["path"]
        found = _match(candidates, path)
        if found is None:
            await app(scope, receive, send)
            return
        series, match = found
        started = time.perf_counter()
        messages, body = await _read_body(receive, max_body_bytes)
        answer: ExpressAnswer | None = None
        if body is not None and _acceptable(scope, body):
            try:
                answer = await series.route.handler(scope, body, match.groupdict())
            except PlatformError as exc:
                answer = problem_answer(scope, exc)
            except Exception as exc:
                log.exception("unhandled_error", path=path, error_type=type(exc).__name__)
                answer = _internal_error(scope)
        if answer is None:
            await app(scope, _replay(messages, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-type", answer.media_type),
                    (b"content-length", str(len(answer.body)).encode()),
                    *answer.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body, "more_body": False})
        if series.route.sampled_access_log:
            scope[EXPRESS_SAMPLED_LOG] = True  # type: ignore[literal-required]
        series.count(answer.status)
        series.duration.observe(time.perf_counter() - started)

    return middleware


def _acceptable(scope: Scope, body: bytes) -> bool:
    """The kernel's bad-input checks (`bad_input.py`): what fails them is declined, so the full stack
    refuses it with the very answer any other route gives."""
    try:
        check_path(scope["path"])
        check_query_string(scope.get("query_string", b""))
        check_json_body(body)
    except PlatformError:
        return False
    return True


def _match(candidates: list[tuple[re.Pattern[str], _Series]], path: str) -> tuple[_Series, re.Match[str]] | None:
    for pattern, series in candidates:
        match = pattern.fullmatch(path)
        if match is not None:
            return series, match
    return None


async def _read_body(receive: Receive, limit: int) -> tuple[list[ReceiveMessage], bytes | None]:
    """The messages received and the whole body; body None when it is larger than `limit` or the client
    went away (the full stack then answers, from the replayed messages)."""
    messages: list[ReceiveMessage] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return messages, None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return messages, chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replay(messages: list[ReceiveMessage], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
