"""Per-request context: a request id (taken from `X-Request-ID` when sane, else generated), echoed
on the response, bound into every log line of the request, and an access log line at the end. The same
layer adds the security headers to every response, and the headers inner layers left in
`scope[RESPONSE_HEADERS]` (the gateway's rate-limit headers): one wrapper of `send` per request, not one
per layer that decorates responses.

High-volume routes (online feature reads) mark themselves with `opt=SAMPLED_ACCESS_LOG`: only a sample of
their successful requests is logged (`http.access_log_sample_rate`), each sampled line saying how many
requests it stands for (`sampled`). A JSON line costs about as much as the whole read it describes.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from collections.abc import Sequence

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from mlplatform.kernel.express import EXPRESS_SAMPLED_LOG
from mlplatform.kernel.request_ids import current_request_id
from mlplatform.kernel.security_headers import security_headers

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
access_log = structlog.get_logger("mlplatform.access")
_access_logger = logging.getLogger("mlplatform.access")

SAMPLED_ACCESS_LOG = {"access_log": "sampled"}
"""Route `opt` of high-volume routes: their successful requests are logged as a sample."""
RESPONSE_HEADERS = "mlplatform.response_headers"
"""Scope key: header pairs an inner layer wants on the response, whatever produces it (set before the app runs)."""
RESPONSE_STATUS = "mlplatform.response_status"
"""Scope key: the status of the response once its start was sent (read by inner layers after the app returns)."""


def request_id_middleware(app: ASGIApp, *, access_log_sample_rate: float = 1.0, production: bool = False) -> ASGIApp:
    """`access_log_sample_rate`: share of successful requests to `SAMPLED_ACCESS_LOG` routes that are logged;
    `production` adds HSTS to the security headers."""
    security = security_headers(production)
    every = round(1 / access_log_sample_rate) if access_log_sample_rate > 0 else 0
    counter = itertools.count()

    def wanted(scope: Scope, status: int) -> int:
        """0: no line; else the number of requests the line stands for."""
        if status >= 400:
            return 1
        handler = scope.get("route_handler")
        if not scope.get(EXPRESS_SAMPLED_LOG) and (handler is None or handler.opt.get("access_log") != "sampled"):
            return 1
        if every == 0 or next(counter) % every:
            return 0
        return every

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_request_id.set(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = scope[RESPONSE_STATUS] = message["status"]  # type: ignore[literal-required]
                inner: Sequence[tuple[bytes, bytes]] = scope.get(RESPONSE_HEADERS, ())  # type: ignore[assignment]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                    *security,
                    *inner,
                ]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            if _access_logger.isEnabledFor(logging.INFO) and (stands_for := wanted(scope, status)):
                access_log.info(
                    "request",
                    method=scope.get("method"),
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    **({"sampled": stands_for} if stands_for > 1 else {}),
                )
            structlog.contextvars.unbind_contextvars("request_id")
            current_request_id.reset(token)

    return middleware
