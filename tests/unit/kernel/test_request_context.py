"""The request-id middleware's access log: every request, except a sample of successful requests to
high-volume routes (`SAMPLED_ACCESS_LOG`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from mlplatform.kernel.logging import configure_logging
from mlplatform.kernel.request_context import (
    RESPONSE_HEADERS,
    RESPONSE_STATUS,
    SAMPLED_ACCESS_LOG,
    request_id_middleware,
)


@dataclass
class Handler:
    opt: dict[str, Any] = field(default_factory=dict)


def app_answering(handler: Handler) -> Callable[[Any, Any, Any], Awaitable[None]]:
    """An ASGI app that routes like Litestar (sets `scope["route_handler"]`) and answers `scope["answer"]`."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["route_handler"] = handler
        await send({"type": "http.response.start", "status": scope["answer"], "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def request(app: Any, status: int = 200) -> None:
    scope = {"type": "http", "method": "POST", "path": "/online", "headers": [], "answer": status}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    asyncio.run(app(scope, receive, send))


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if r.name == "mlplatform.access" and isinstance(r.msg, dict)]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    configure_logging("INFO", json=True)
    caplog.set_level(logging.INFO, logger="mlplatform.access")
    return caplog


def test_sampled_routes_log_one_success_in_n_and_every_failure(logs: pytest.LogCaptureFixture) -> None:
    app = request_id_middleware(app_answering(Handler(dict(SAMPLED_ACCESS_LOG))), access_log_sample_rate=0.01)
    for _ in range(250):
        request(app)
    request(app, status=503)
    request(app, status=422)
    lines = access_lines(logs)
    assert [line["status"] for line in lines] == [200, 200, 200, 503, 422]
    assert [line.get("sampled") for line in lines] == [100, 100, 100, None, None]


def test_other_routes_log_every_request(logs: pytest.LogCaptureFixture) -> None:
    app = request_id_middleware(app_answering(Handler()), access_log_sample_rate=0.01)
    for _ in range(5):
        request(app)
    lines = access_lines(logs)
    assert len(lines) == 5
    assert all("sampled" not in line and line["path"] == "/online" for line in lines)


def test_a_zero_rate_logs_only_failures(logs: pytest.LogCaptureFixture) -> None:
    app = request_id_middleware(app_answering(Handler(dict(SAMPLED_ACCESS_LOG))), access_log_sample_rate=0.0)
    for _ in range(20):
        request(app)
    request(app, status=500)
    assert [line["status"] for line in access_lines(logs)] == [500]


def test_express_answers_of_sampled_routes_are_sampled(logs: pytest.LogCaptureFixture) -> None:
    from mlplatform.kernel.express import ExpressAnswer, ExpressRoute, express_middleware

    async def answer(scope: Any, body: bytes, params: dict[str, str]) -> ExpressAnswer:
        return ExpressAnswer(body=b"{}")

    express = express_middleware(
        app_answering(Handler()), [ExpressRoute("POST", "/online", answer, sampled_access_log=True)], max_body_bytes=64
    )
    app = request_id_middleware(express, access_log_sample_rate=0.01)
    for _ in range(150):
        request(app)
    assert [line.get("sampled") for line in access_lines(logs)] == [100, 100]


def answered_headers(app: Any, scope_extra: dict[str, Any]) -> tuple[list[tuple[bytes, bytes]], dict[str, Any]]:
    """The headers `app` answered with, and the scope it saw."""
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "answer": 201, **scope_extra}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["headers"], scope


def test_every_response_carries_the_security_headers_and_what_inner_layers_left() -> None:
    app = request_id_middleware(app_answering(Handler()), production=True)
    headers, scope = answered_headers(app, {RESPONSE_HEADERS: [(b"ratelimit-limit", b"10")]})
    names = [name for name, _ in headers]
    assert names.count(b"x-content-type-options") == 1
    assert b"strict-transport-security" in names
    assert (b"ratelimit-limit", b"10") in headers
    assert scope[RESPONSE_STATUS] == 201


def test_no_hsts_outside_production() -> None:
    headers, _ = answered_headers(request_id_middleware(app_answering(Handler())), {})
    names = {name for name, _ in headers}
    assert b"strict-transport-security" not in names
    assert {b"x-request-id", b"referrer-policy", b"x-frame-options", b"cross-origin-opener-policy"} <= names
