"""The app's first route middleware: the kernel's bad-input checks (`bad_input.py`) for every route.

It runs after routing (it knows the route handler and the parsed path parameters) and before the
gateway, the guards and the handler, so none of them ever sees a NUL, an integer beyond 64 bits, a body
that is not UTF-8 or a JSON document nested too deep. What it checks:

- the path and the parsed path parameters, and the query string (every route);
- the body of a route that takes one (`data`): as JSON, or field by field for a urlencoded form. The
  body is read through Litestar's own `Request.body()` (same size limit, 413 above it), which keeps it
  in the request's scope, so the handler does not read it again.

Mounted ASGI apps (MLflow under /mlflow) are left alone: they answer in their own format.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.handlers import HTTPRouteHandler
from litestar.params import ParameterKwarg
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.typing import FieldDefinition

from mlplatform.kernel.bad_input import (
    check_form,
    check_int_parameters,
    check_json_body,
    check_path,
    check_query_string,
)

_FORMS = ("application/x-www-form-urlencoded",)
_NOT_CHECKED = ("multipart/form-data", "application/octet-stream")
"""Bodies handed to the handler as they came (uploads): the handler reads them as data, not text."""


class _RouteFacts:
    """What the middleware needs to know about one route handler, worked out once."""

    __slots__ = ("has_body", "int_query")

    def __init__(self, handler: HTTPRouteHandler) -> None:
        parameters = handler.parsed_fn_signature.parameters
        data = parameters.get("data")
        self.has_body = data is not None and not data.is_subclass_of(bytes)
        self.int_query = tuple(
            _query_name(name, field) for name, field in parameters.items() if name != "data" and _holds_int(field)
        )


def input_guard_middleware(app: ASGIApp) -> ASGIApp:
    facts: dict[int, _RouteFacts] = {}

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        if scope["type"] != "http" or not isinstance(handler, HTTPRouteHandler):
            await app(scope, receive, send)
            return
        route = facts.get(id(handler))
        if route is None:
            route = facts[id(handler)] = _RouteFacts(handler)
        check_path(scope["path"], scope.get("path_params"))
        query_string = scope.get("query_string", b"")
        check_query_string(query_string)
        check_int_parameters(query_string, route.int_query)
        if route.has_body and scope.get("method") not in ("GET", "HEAD"):
            await _check_body(Request(scope, receive, send))
        await app(scope, receive, send)

    return middleware


async def _check_body(request: Request[Any, Any, Any]) -> None:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type.startswith(_NOT_CHECKED):
        return
    body = await request.body()
    if content_type in _FORMS:
        check_form(body)
    else:
        check_json_body(body)


def _holds_int(field: FieldDefinition) -> bool:
    """Whether a parameter is an int (or optional int, or a list of ints): its value is bound as a number."""
    kinds = [field, *field.inner_types]
    return any(kind.is_subclass_of(int) and not kind.is_subclass_of(bool) for kind in kinds)


def _query_name(name: str, field: FieldDefinition) -> str:
    kwarg = field.kwarg_definition
    if isinstance(kwarg, ParameterKwarg) and kwarg.query:
        return kwarg.query
    return name
