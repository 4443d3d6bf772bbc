"""Stable OpenAPI operation ids: `<tag>_<handler name>` (method-prefixed for multi-method handlers).

Generated clients name their functions after these, so they must not change when a path does.
"""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler
from litestar.types import Method
from litestar.types.internal_types import PathParameterDefinition


def operation_id(
    route_handler: HTTPRouteHandler, http_method: Method, path_components: list[str | PathParameterDefinition]
) -> str:
    explicit = route_handler.opt.get("operation_id")
    if isinstance(explicit, str):
        return explicit
    tags = route_handler.resolve_tags()
    prefix = sorted(tags)[0] if tags else "platform"
    name = route_handler.handler_name
    if len(route_handler.http_methods) > 1:
        name = f"{http_method.lower()}_{name}"
    return f"{prefix}_{name}"
