"""The operations of an app's OpenAPI document, each with the route handler that answers it."""

from __future__ import annotations

from collections.abc import Iterator

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import Operation, Reference
from litestar.routes import HTTPRoute


def handler_operations(app: Litestar) -> Iterator[tuple[HTTPRouteHandler, str, Operation]]:
    """`(handler, HTTP method, operation)` for every operation of `app.openapi_schema` (built on first use)."""
    paths = app.openapi_schema.paths or {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path_item = paths.get(route.path_format or "/")
        if path_item is None or isinstance(path_item, Reference):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in handler.http_methods:
                operation = getattr(path_item, method.lower(), None)
                if isinstance(operation, Operation):
                    yield handler, method, operation
