"""The shape of every error body: one RFC 9457 problem document, as `Problem`.

`errors.py` renders every error through this Struct and the OpenAPI document publishes it as the
`Problem` component (`openapi_problems.py`, through `msgspec.json.schema_components`), so what the
document promises and what leaves the server are one type. Besides the members below, a problem may
carry extension members particular to its kind (RFC 9457 §3.2: `current_etag` on a 412, `allowed_moves`
on a 409 ...): the keyword arguments of the `PlatformError` raised. They never replace a member named here.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType


class FieldError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One reason a request failed validation: where, and what is wrong there."""

    key: Annotated[str, Meta(description="The field or parameter (`name`; `$.a[0].b` inside a body).")] | UnsetType = (
        UNSET
    )
    message: Annotated[str, Meta(description="What is wrong with the value.")]
    source: (
        Annotated[str, Meta(description="Where the value was: body, query, path, header or cookie.")] | UnsetType
    ) = UNSET


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """An error, as RFC 9457 problem details (`application/problem+json`). Problems of some kinds carry
    further members of their own (e.g. `current_etag` on a 412)."""

    type: Annotated[str, Meta(description="URI naming the kind of problem (`https://mlplatform.dev/problems/...`).")]
    title: Annotated[str, Meta(description="Short summary of the kind of problem; the same for every one of a type.")]
    status: Annotated[int, Meta(ge=400, le=599, description="The HTTP status code, repeated.")]
    detail: Annotated[str, Meta(description="What went wrong in this request (a 5xx says only that it failed).")]
    instance: Annotated[str, Meta(description="The request path.")] | UnsetType = UNSET
    request_id: Annotated[str, Meta(description="The request's id, also in `X-Request-ID`: quote it.")] | UnsetType = (
        UNSET
    )
    errors: (
        Annotated[list[FieldError], Meta(description="422 on a value that failed validation: one entry per value.")]
        | UnsetType
    ) = UNSET
    field: Annotated[str, Meta(description="The body field (or `body`) a 400 or 422 is about.")] | UnsetType = UNSET
    parameter: Annotated[str, Meta(description="The query or path parameter a 422 is about.")] | UnsetType = UNSET
    component: (
        Annotated[str, Meta(description="503: the component that is down (database, redis, object-store ...).")]
        | UnsetType
    ) = UNSET


RESERVED = frozenset({"type", "title", "status", "detail", "instance", "request_id"})
"""Members every problem has: an error's extension members may not reuse these names."""


def render(problem: Problem, extensions: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body: the problem's members (unset ones left out) and its kind's extension members."""
    body: dict[str, Any] = msgspec.to_builtins(problem)
    for name, value in (extensions or {}).items():
        if value is not None and name not in RESERVED:
            body.setdefault(name, value)
    return body


__all__ = ["RESERVED", "FieldError", "Problem", "render"]
