"""Run the gateway's route guards without Litestar's per-call copy of the route handler (a shim).

Litestar calls every guard as `guard(connection, copy(handler))` (`BaseRouteHandler.authorize_connection`), so
that a guard cannot change the handler. A route handler has some sixty slots: the copy costs more CPU than the
rest of the gateway's work on a request. The gateway's own guards (`requires_role`, `requires_authenticated`,
`requires_platform_admin`) never touch the handler argument, so for a handler whose guards are all the gateway's,
the gateway swaps the handler's class for a subclass whose `authorize_connection` passes the handler itself.
Guards still run at the same point and in the same order, raise the same errors and produce the same responses;
a handler with any foreign guard keeps Litestar's behaviour (tests/unit/gateway/test_guard_calls.py).

This is the gateway's one use of more than Litestar's public behaviour, kept until Litestar calls guards with the
handler itself or lets a guard declare that it ignores it (the change to propose upstream; docs/gateway.md, "Cost").
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

GATEWAY_GUARD = "gateway_guard"
"""Attribute set (True) on guard callables that ignore their handler argument."""

_subclasses: dict[type[Any], type[Any]] = {}


async def _authorize_connection(self: BaseRouteHandler, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    for guard in self.resolve_guards():
        await guard(connection, self)  # type: ignore[misc]


def _uncopied(cls: type[Any]) -> type[Any]:
    sub = _subclasses.get(cls)
    if sub is None:
        # `__slots__ = ()` keeps the memory layout, which is what allows assigning `__class__`.
        sub = type(cls.__name__, (cls,), {"__slots__": (), "authorize_connection": _authorize_connection})
        sub.__module__ = cls.__module__
        sub.__qualname__ = cls.__qualname__
        _subclasses[cls] = sub
    return sub


def skip_handler_copies(handler: Any) -> None:
    """Let `handler`'s guards run without a copy of it, if all of them are the gateway's own."""
    if type(handler) in _subclasses.values() or not isinstance(handler, BaseRouteHandler):
        return
    guards = handler.resolve_guards()
    if guards and all(getattr(guard, GATEWAY_GUARD, False) for guard in guards):
        handler.__class__ = _uncopied(type(handler))
