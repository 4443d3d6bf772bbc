"""The `Allow` header of an OPTIONS answer lists every method its path has.

Litestar (2.25) builds a path's automatic OPTIONS handler when the path's first handler is registered, from
that route's methods, and keeps it when later handlers of the same path are merged into a new route; so a
path whose handlers are registered one by one (function handlers) answered e.g. `Allow: OPTIONS, PUT` for a
path that also has GET and DELETE. This hook rewrites the header from the app's final routes, which are whole.
"""

from __future__ import annotations

from litestar.routes import HTTPRoute
from litestar.types import Message, Scope


async def complete_allow_header(message: Message, scope: Scope) -> None:
    """`before_send` hook: on an OPTIONS answer that carries `Allow`, list all methods of the matched path."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    headers = list(message.get("headers", ()))
    template = scope.get("path_template")
    if not template or not any(name.lower() == b"allow" for name, _ in headers):
        return
    methods = {
        method
        for route in scope["app"].routes
        if isinstance(route, HTTPRoute) and route.path_format == template
        for method in route.methods
    }
    if not methods:
        return
    allow = ", ".join(sorted(methods)).encode()
    message["headers"] = [(name, allow if name.lower() == b"allow" else value) for name, value in headers]
