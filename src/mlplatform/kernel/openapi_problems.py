"""Documents every operation's error answers in the OpenAPI document, as the `Problem` component.

Run once by `create_app` over the document Litestar generated. For each operation it works out the
statuses the route can answer with a problem, from what the route is made of:

- every route: 400 (a query string or body that cannot be read) and 422 (a value that breaks a rule:
  the input guard checks the path and query of every route, Litestar validates parameters and bodies);
- a request body: 413 (larger than `http.max_body_bytes`);
- a path parameter: 404 (the route looks it up);
- an `If-Match` header parameter: 412 (and 428 when the parameter is required);
- a handler that needs the database or the platform's components (`db_session`, `platform`, directly or
  through its dependencies): 503;
- each guard's `problem_statuses` (`{status: why}`, set by the module that wrote the guard);
- the route's own `raises=[Conflict, ...]` (Litestar's per-route declaration; `PlatformError`s are
  Litestar `HTTPException`s): the statuses only the handler knows;
- each module's `route_answers(handler, method)`: what its middleware adds (the gateway's 401, 429 and
  rate-limit headers).

Every such status is documented as `application/problem+json` referencing `#/components/schemas/Problem`,
which is generated from the `Problem` Struct that `errors.py` renders. Litestar's own error responses (its
default 400 "ValidationException" shape) are removed; a status the route documents itself (`responses=`,
e.g. the readiness probe's 503) is kept as written. The same pass gives 204s no content and every
response header without a schema a string schema.

Litestar builds the document lazily; this pass builds it while the app is built (about a second), so that
`app.openapi_schema` and the served `/schema/openapi.json` are one and the same, processed, document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)

from mlplatform.kernel.errors import PROBLEM_JSON
from mlplatform.kernel.openapi_walk import handler_operations
from mlplatform.kernel.problem import Problem

PROBLEM_STATUSES_ATTRIBUTE = "problem_statuses"
"""Attribute of a guard: `{status: why}`, the problems the guard answers with (e.g. `{401: ..., 403: ...}`)."""
PROBLEM_REF = "#/components/schemas/{name}"
_DEPENDENCY_NEEDING_SERVICES = frozenset({"db_session", "platform"})
_LITESTAR_ERROR_MEMBERS = frozenset({"status_code", "detail", "extra"})

DEFAULT_REASONS: Mapping[int, str] = {
    400: "The request cannot be read (not UTF-8, malformed JSON, JSON nested too deep, a bad percent-encoding).",
    401: "No credentials, or invalid ones.",
    403: "The caller may not do this.",
    404: "What the path names does not exist.",
    409: "The request conflicts with the current state of the resource.",
    412: "`If-Match` names a version that is no longer current: read the resource again.",
    413: "The body is larger than the server accepts.",
    415: "The body's media type is not one the route reads.",
    422: "A value breaks a rule: `errors` lists the offending values, `field` or `parameter` names one.",
    428: "`If-Match` is required.",
    429: "Too many requests: retry after `Retry-After` seconds.",
    503: "A component the request needs is down (`component` names it): retry later.",
}


@dataclass(frozen=True, slots=True)
class DocumentedHeader:
    """A response header as the OpenAPI document describes it."""

    name: str
    description: str
    schema: Schema = field(default_factory=lambda: Schema(type=OpenAPIType.STRING))


@dataclass(frozen=True, slots=True)
class RouteAnswers:
    """What a module's middleware answers on a route besides the route itself, for the document.

    `problems`: `{status: why}`. `problem_headers`: headers sent with a problem of that status (`Retry-After`
    on a 429). `headers`: headers the middleware adds to every answer of the route (rate-limit counters)."""

    problems: Mapping[int, str] = field(default_factory=dict)
    problem_headers: Mapping[int, Sequence[DocumentedHeader]] = field(default_factory=dict)
    headers: Sequence[DocumentedHeader] = ()


RouteAnswerSource = Callable[[HTTPRouteHandler, str], RouteAnswers]
"""A module's `route_answers`: `(handler, HTTP method) -> RouteAnswers`."""


def document_problems(app: Litestar, sources: Sequence[RouteAnswerSource] = ()) -> None:
    """Rewrite the error responses of every operation in `app.openapi_schema` (in place, once)."""
    openapi = app.openapi_schema
    components = openapi.components if isinstance(openapi.components, Components) else Components()
    openapi.components = components
    components.schemas.update(_problem_components())
    for handler, method, operation in handler_operations(app):
        _document_operation(operation, handler, [source(handler, method) for source in sources])


def inferred_problems(handler: HTTPRouteHandler, operation: Operation) -> dict[int, list[str]]:
    """The problem statuses of one operation and why each can happen (see the module docstring)."""
    problems: dict[int, list[str]] = {400: [DEFAULT_REASONS[400]], 422: [DEFAULT_REASONS[422]]}
    parameters = [p for p in operation.parameters or () if isinstance(p, Parameter)]
    if operation.request_body is not None:
        _merge(problems, {413: DEFAULT_REASONS[413]})
    if any(p.param_in == "path" for p in parameters):
        _merge(problems, {404: DEFAULT_REASONS[404]})
    if_match = next((p for p in parameters if p.param_in == "header" and p.name.lower() == "if-match"), None)
    if if_match is not None:
        _merge(problems, {412: DEFAULT_REASONS[412], **({428: DEFAULT_REASONS[428]} if if_match.required else {})})
    if _needs_services(handler):
        _merge(problems, {503: DEFAULT_REASONS[503]})
    for guard in handler.resolve_guards():
        _merge(problems, getattr(guard, PROBLEM_STATUSES_ATTRIBUTE, None) or {})
    for raised in handler.raises or ():
        _merge(problems, {raised.status_code: DEFAULT_REASONS.get(raised.status_code, "")})
    return problems


def _document_operation(operation: Operation, handler: HTTPRouteHandler, answers: Sequence[RouteAnswers]) -> None:
    responses = {
        status: response
        for status, response in (operation.responses or {}).items()
        if not _litestar_error_response(response)
    }
    problems = inferred_problems(handler, operation)
    for answer in answers:
        _merge(problems, answer.problems)
    every = [header for answer in answers for header in answer.headers]
    for status in sorted(problems):
        if str(status) in responses:
            continue
        headers = [*(h for answer in answers for h in answer.problem_headers.get(status, ())), *every]
        responses[str(status)] = OpenAPIResponse(
            description=_description(status, problems[status]),
            content={PROBLEM_JSON: OpenAPIMediaType(schema=Reference(ref=PROBLEM_REF.format(name="Problem")))},
            headers=_headers(headers) or None,
        )
    for code, response in responses.items():
        if not isinstance(response, OpenAPIResponse):
            continue
        if code == "204":
            response.content = None
        if code.startswith(("2", "3")) and every:
            response.headers = {**_headers(every), **(response.headers or {})}
        for header in (response.headers or {}).values():
            if isinstance(header, OpenAPIHeader) and header.schema is None:
                header.schema = Schema(type=OpenAPIType.STRING)
    operation.responses = dict(sorted(responses.items()))


def _merge(problems: dict[int, list[str]], more: Mapping[int, str]) -> None:
    for status, why in more.items():
        reasons = problems.setdefault(status, [])
        if why and why not in reasons:
            reasons.append(why)


def _description(status: int, reasons: Iterable[str]) -> str:
    listed = list(reasons)
    return " ".join(listed) if listed else DEFAULT_REASONS.get(status, "See `detail`.")


def _headers(headers: Iterable[DocumentedHeader]) -> dict[str, OpenAPIHeader | Reference]:
    return {h.name: OpenAPIHeader(schema=h.schema, description=h.description, required=False) for h in headers}


def _litestar_error_response(response: Any) -> bool:
    """Litestar's default error response (`status_code`, `detail`, `extra`): not what the platform sends."""
    content = getattr(response, "content", None) or {}
    for media in content.values():
        schema = getattr(media, "schema", None)
        shapes = (schema.one_of or [schema]) if isinstance(schema, Schema) else []
        if any(isinstance(s, Schema) and set(s.properties or ()) == _LITESTAR_ERROR_MEMBERS for s in shapes):
            return True
    return False


def _needs_services(handler: HTTPRouteHandler) -> bool:
    """Whether the handler, or a dependency it asks for (at any depth), takes the database or the platform."""
    provided = handler.resolve_dependencies()
    seen: set[str] = set()
    pending = list(handler.parsed_fn_signature.parameters)
    while pending:
        name = pending.pop()
        if name in _DEPENDENCY_NEEDING_SERVICES:
            return True
        if name in seen or name not in provided:
            continue
        seen.add(name)
        pending.extend(provided[name].parsed_fn_signature.parameters)
    return False


def _problem_components() -> dict[str, Schema]:
    _, definitions = msgspec.json.schema_components([Problem], ref_template=PROBLEM_REF)
    return {name: _schema(definition) for name, definition in definitions.items()}


def _schema(definition: Mapping[str, Any]) -> Schema:
    """A JSON Schema (as msgspec writes it) as Litestar's `Schema`."""
    properties = definition.get("properties")
    items = definition.get("items")
    kind = definition.get("type")
    return Schema(
        type=OpenAPIType(kind) if isinstance(kind, str) else None,
        title=definition.get("title"),
        description=definition.get("description"),
        required=definition.get("required"),
        properties={name: _schema_or_ref(value) for name, value in properties.items()} if properties else None,
        items=_schema_or_ref(items) if items else None,
        minimum=definition.get("minimum"),
        maximum=definition.get("maximum"),
    )


def _schema_or_ref(definition: Mapping[str, Any]) -> Schema | Reference:
    ref = definition.get("$ref")
    return Reference(ref=ref) if isinstance(ref, str) else _schema(definition)


__all__ = [
    "DEFAULT_REASONS",
    "PROBLEM_STATUSES_ATTRIBUTE",
    "DocumentedHeader",
    "RouteAnswerSource",
    "RouteAnswers",
    "document_problems",
    "inferred_problems",
]
