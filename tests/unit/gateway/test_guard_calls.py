"""The guard-call shim (`request_path/guard_calls.py`): the gateway's guards run without Litestar's per-call copy
of the route handler, in the same order and with the same answers; any other guard keeps Litestar's behaviour.

The shim exists until Litestar stops copying the handler per guard call; if an upgrade changes
`authorize_connection`, these tests say whether the shim still holds.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.testing import AsyncTestClient

from mlplatform.modules.gateway.request_path.guard_calls import GATEWAY_GUARD, skip_handler_copies

calls: list[tuple[str, bool]] = []
"""(guard, whether it was given the registered handler itself rather than a copy)."""


def recording(name: str, *, gateway: bool, refuse: bool = False) -> Any:
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        calls.append((name, handler is connection.route_handler))
        if refuse:
            raise PermissionDeniedException(f"{name} refuses")

    if gateway:
        setattr(guard, GATEWAY_GUARD, True)
    return guard


def shim(app: Any) -> Any:
    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        skip_handler_copies(scope["route_handler"])  # what the gateway middleware does on a route's first request
        await app(scope, receive, send)

    return middleware


def shimmed_app(*guards: Any) -> Litestar:
    @get("/ping", guards=list(guards), sync_to_thread=False)
    def ping() -> str:
        return "pong"

    return Litestar([ping], middleware=[shim])


async def answer(app: Litestar) -> tuple[int, Any]:
    calls.clear()
    async with AsyncTestClient(app) as client:
        response = await client.get("/ping")
    return response.status_code, response.text


async def test_gateway_guards_get_the_handler_itself_in_declared_order() -> None:
    app = shimmed_app(recording("first", gateway=True), recording("second", gateway=True))
    assert await answer(app) == (200, "pong")
    assert calls == [("first", True), ("second", True)]


async def test_a_refusal_answers_as_without_the_shim_and_stops_the_later_guards() -> None:
    guards = (recording("first", gateway=True, refuse=True), recording("second", gateway=True))
    shimmed = await answer(shimmed_app(*guards))
    assert calls == [("first", True)]

    @get("/ping", guards=list(guards), sync_to_thread=False)
    def ping() -> str:
        return "pong"

    plain = await answer(Litestar([ping]))
    assert calls == [("first", False)]  # Litestar's own call: a copy
    assert shimmed == plain
    assert shimmed[0] == 403


async def test_a_handler_with_any_foreign_guard_keeps_litestars_copies() -> None:
    app = shimmed_app(recording("gateway", gateway=True), recording("foreign", gateway=False))
    assert await answer(app) == (200, "pong")
    assert calls == [("gateway", False), ("foreign", False)]
