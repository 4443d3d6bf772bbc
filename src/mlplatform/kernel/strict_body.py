"""A JSON body is decoded as strictly as the OpenAPI document describes it.

Litestar converts a request body to the handler's `data` type with msgspec in lax mode (`strict=False`):
`{"end": 0}` became 1970-01-01 for a `datetime` field, `"5432"` an `int`, `"1.5"` a `float`, although the
document states a date-time string, an integer, a number - and every client generated from it refuses
such values. `strict_bodies` (the app's `before_request` hook: after the gateway and the guards, before
Litestar decodes `data`) converts a JSON body once more, strictly, to the same type, and refuses what the
document does not allow with the 422 Litestar gives any other invalid body (`errors` naming the value,
source `body`). The body stays cached in the request's scope, so it is read once.

One rule is JSON Schema's rather than msgspec's: a number with a zero fraction (`50.0`) is an `integer` in
the document, so such numbers are checked as the integers they are (the handler still gets Litestar's
conversion, which takes them as integers too).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import BodyKwarg

_WHERE = " - at `$"
_FIELD_NAMED = re.compile(r"^Object (?:missing required|contains unknown) field `(.+)`$")
_json = msgspec.json.Decoder()
_NO_BODY = object()
"""A handler that takes no JSON body: nothing to check."""


def strict_bodies() -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """The `before_request` hook of one app."""
    body_types: dict[int, Any] = {}
    """Route handler id -> the type of its JSON `data`, or `_NO_BODY`."""

    async def hook(request: Request[Any, Any, Any]) -> None:
        handler = request.route_handler
        if request.method in ("GET", "HEAD") or not isinstance(handler, HTTPRouteHandler):
            return
        key = id(handler)
        if key not in body_types:
            body_types[key] = _json_body_type(handler)
        body_type = body_types[key]
        if body_type is not _NO_BODY:
            check(body_type, await request.body(), request.method, request.scope["path"])

    return hook


def check(body_type: Any, body: bytes, method: str, path: str) -> None:
    """Refuse `body` unless it converts strictly to `body_type`; JSON that does not parse is left to Litestar
    (its 400). `method` and `path` only name the operation in a refusal."""
    try:
        document = _json.decode(body)
    except msgspec.DecodeError:
        return
    try:
        msgspec.convert(_integral(document), body_type, strict=True, str_keys=True)
    except msgspec.ValidationError as exc:
        message, key = _located(str(exc))
        raise ValidationException(
            detail=f"Validation failed for {method} {path}", extra=[{"message": message, "key": key, "source": "body"}]
        ) from None


def _integral(value: Any) -> Any:
    """`value` with every number of zero fraction as an int (the input guard bounds the nesting depth)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, list):
        return [_integral(item) for item in value]
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    return value


def _located(error: str) -> tuple[str, str]:
    """msgspec's error as (message, key): the value's path (`a[0].b`), and for a missing or unknown field the
    field itself rather than the object holding it (`{"kind": "push"}` lacks `batch_source`, not `data`)."""
    message, _, where = error.partition(_WHERE)
    path = where.rstrip("`").lstrip(".")
    field = _FIELD_NAMED.match(message)
    if field is not None:
        path = f"{path}.{field[1]}" if path else field[1]
    return message, path or "data"


def _json_body_type(handler: HTTPRouteHandler) -> Any:
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None or data.is_subclass_of(bytes):
        return _NO_BODY
    kwarg = data.kwarg_definition
    if isinstance(kwarg, BodyKwarg) and kwarg.media_type != RequestEncodingType.JSON:
        return _NO_BODY
    return data.annotation


__all__ = ["check", "strict_bodies"]
