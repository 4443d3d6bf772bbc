"""The platform's error tree and its one rendering as RFC 9457 problem+json.

Services raise `PlatformError` subclasses; each carries its HTTP status. Litestar's own HTTP
exceptions (unknown route, wrong method, invalid body, oversize body) and anything unexpected are
rendered through the same mapper, so every error a client sees has the same shape.

What a client may see: a 4xx carries its detail (written for the client). A 5xx never does: its body is
the status, a generic title and detail, the request id and, for a 503, the name of the component that is
down; the detail, the exception and its traceback go to the log under the same request id. Database
errors never reach a body verbatim (their text holds SQL statements with bound parameters): a value the
database refuses (`DataError`: out of range, NUL) is a generic 422, a lost connection a 503 naming the
database, anything else a generic 500.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from msgspec import UNSET, UnsetType
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mlplatform.kernel.problem import RESERVED, FieldError, Problem, render
from mlplatform.kernel.request_ids import current_request_id

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://mlplatform.dev/problems/"

log = structlog.get_logger("mlplatform.errors")


class PlatformError(HTTPException):
    """Base of every expected failure. `detail` is shown to the client: never put secrets in it; keyword
    arguments become extension members of the problem document (`problem.py`).

    A Litestar `HTTPException` so that a route can name what it raises with Litestar's own
    `raises=[Conflict, ...]`, which the OpenAPI document reads (`openapi_problems.py`); it is rendered by
    its own handler below, never by Litestar's."""

    status_code: int = 400
    title: ClassVar[str] = "Bad request"
    slug: ClassVar[str] = "bad-request"
    extra: dict[str, Any]
    headers: dict[str, str]

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        reserved = RESERVED.intersection(extra)
        if reserved:
            raise TypeError(f"{', '.join(sorted(reserved))}: a member every problem has; name the extension otherwise")
        Exception.__init__(self, detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def __str__(self) -> str:
        return self.detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r})"


class BadRequest(PlatformError):
    """The request cannot be read at all (400): a body that is not UTF-8, JSON nested too deep."""

    status_code = 400
    title = "Bad request"
    slug = "bad-request"


class Invalid(PlatformError):
    """The request is well formed but its content breaks a rule (422)."""

    status_code = 422
    title = "Invalid request"
    slug = "invalid"


class Unauthenticated(PlatformError):
    status_code = 401
    title = "Authentication required"
    slug = "unauthenticated"


class Forbidden(PlatformError):
    status_code = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(PlatformError):
    status_code = 404
    title = "Not found"
    slug = "not-found"


class Conflict(PlatformError):
    status_code = 409
    title = "Conflict"
    slug = "conflict"


class PreconditionFailed(PlatformError):
    status_code = 412
    title = "Precondition failed"
    slug = "precondition-failed"


class PayloadTooLarge(PlatformError):
    status_code = 413
    title = "Payload too large"
    slug = "payload-too-large"


class RateLimited(PlatformError):
    status_code = 429
    title = "Too many requests"
    slug = "rate-limited"


class Unavailable(PlatformError):
    """A dependency is down. `component` names it (database, redis, object-store, mlflow, feast ...)."""

    status_code = 503
    title = "Service unavailable"
    slug = "unavailable"

    def __init__(self, detail: str, *, component: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail, headers=headers, component=component, **extra)
        self.component = component


_STATUS_TITLES = {
    400: ("Bad request", "bad-request"),
    401: ("Authentication required", "unauthenticated"),
    403: ("Forbidden", "forbidden"),
    404: ("Not found", "not-found"),
    405: ("Method not allowed", "method-not-allowed"),
    409: ("Conflict", "conflict"),
    412: ("Precondition failed", "precondition-failed"),
    413: ("Payload too large", "payload-too-large"),
    415: ("Unsupported media type", "unsupported-media-type"),
    422: ("Invalid request", "invalid"),
    429: ("Too many requests", "rate-limited"),
    500: ("Internal server error", "internal"),
    503: ("Service unavailable", "unavailable"),
}


def problem_response(
    request: Request[Any, Any, Any] | None,
    *,
    status: int,
    detail: str,
    title: str | None = None,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """Build an `application/problem+json` response (RFC 9457)."""
    body = problem_document(
        status=status,
        detail=detail,
        title=title,
        slug=slug,
        instance=request.url.path if request is not None else None,
        **extra,
    )
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_document(
    *, status: int, detail: str, title: str | None = None, slug: str | None = None, instance: str | None, **extra: Any
) -> dict[str, Any]:
    """The problem+json body (a `Problem`); `instance` is the request path (the request id is added with it).
    `extra` holds the `Problem` members `errors`, `field`, `parameter`, `component` and any extension member."""
    default_title, default_slug = _STATUS_TITLES.get(status, ("Error", "error"))
    errors = extra.pop("errors", None)
    problem = Problem(
        type=PROBLEM_BASE + (slug or default_slug),
        title=title or default_title,
        status=status,
        detail=detail,
        instance=UNSET if instance is None else instance,
        request_id=(current_request_id.get() or UNSET) if instance is not None else UNSET,
        errors=[error if isinstance(error, FieldError) else FieldError(**error) for error in errors]
        if errors
        else UNSET,
        field=_text(extra.pop("field", None)),
        parameter=_text(extra.pop("parameter", None)),
        component=_text(extra.pop("component", None)),
    )
    return render(problem, extra)


def _text(value: Any) -> str | UnsetType:
    return UNSET if value is None else str(value)


SERVER_ERROR_DETAIL = "The request failed on the server's side; the request id identifies it in the platform's log."
UNAVAILABLE_DETAIL = "A component the request needs is unavailable ({component}); retry later."
DATABASE_REFUSED_DETAIL = (
    "A value in the request is one the database cannot store or compare (out of range, or a character it refuses)."
)


_DATABASE_TEXT = re.compile(r"\[SQL: |\[parameters: |Background on this error|sqlalche\.me/")
"""What SQLAlchemy's rendering of a database error looks like (it holds the statement and its parameters)."""


def platform_error_document(exc: PlatformError, instance: str | None) -> dict[str, Any]:
    """The problem document for `exc`, as the app's handler and the express routes both send it.

    A 5xx is logged here (with its traceback) and answered generically: its detail and extras may hold
    exception text (SQL, addresses), which is for the log only. A 503 still names its component. A 4xx
    whose detail is a database message passed on as is (a library wrapping a driver error in its own
    "invalid parameter" error) gets a generic detail too."""
    if exc.status_code < 500 and _DATABASE_TEXT.search(exc.detail):
        log.warning("database_text_withheld", status=exc.status_code, path=instance, detail=exc.detail)
        return problem_document(
            status=exc.status_code,
            detail=DATABASE_REFUSED_DETAIL,
            title=exc.title,
            slug=exc.slug,
            instance=instance,
            **exc.extra,
        )
    if exc.status_code < 500:
        return problem_document(
            status=exc.status_code, detail=exc.detail, title=exc.title, slug=exc.slug, instance=instance, **exc.extra
        )
    component = exc.component if isinstance(exc, Unavailable) else None
    logger = log.warning if component is not None else log.error
    logger("server_error", status=exc.status_code, path=instance, detail=exc.detail, component=component, exc_info=exc)
    detail = UNAVAILABLE_DETAIL.format(component=component) if component is not None else SERVER_ERROR_DETAIL
    return problem_document(
        status=exc.status_code, detail=detail, title=exc.title, slug=exc.slug, instance=instance, component=component
    )


def _platform_error_handler(request: Request[Any, Any, Any], exc: PlatformError) -> Response[dict[str, Any]]:
    body = platform_error_document(exc, request.url.path)
    return Response(content=body, status_code=exc.status_code, media_type=PROBLEM_JSON, headers=exc.headers)


def _validation_errors(exc: ValidationException) -> list[FieldError]:
    """Litestar's validation failures (`{"key", "message", "source"}` each) as the problem's `errors`."""
    errors: list[FieldError] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            key, source = item.get("key"), item.get("source")
            errors.append(
                FieldError(
                    message=str(item.get("message", "invalid value")),
                    key=UNSET if key is None else str(key),
                    source=UNSET if source is None else str(source),
                )
            )
    return errors


def _http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status >= 500:
        log.error("server_error", status=status, path=request.url.path, detail=exc.detail, exc_info=exc)
        return problem_response(request, status=status, detail=SERVER_ERROR_DETAIL, headers=exc.headers)
    detail = exc.detail or _STATUS_TITLES.get(status, ("Error", ""))[0]
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc)
        status = 422 if status == 400 and errors else status
        extra["errors"] = errors or None
        if errors and isinstance(errors[0].key, str):
            # Named as the platform's own 422s name what they refuse (`field`, `parameter`, "name: why"), so a
            # rule declared in a type answers like the same rule checked by a service.
            first = errors[0]
            extra["field" if first.source in (UNSET, "body") else "parameter"] = first.key
            detail = f"{first.key}: {first.message}"
    return problem_response(request, status=status, detail=detail, headers=exc.headers, **extra)


def _database_error_handler(request: Request[Any, Any, Any], exc: SQLAlchemyError) -> Response[dict[str, Any]]:
    """A database error that no service turned into a `PlatformError`: never its text in the body."""
    if isinstance(exc, DataError):
        log.warning("database_refused_value", path=request.url.path, exc_info=exc)
        return problem_response(request, status=422, detail=DATABASE_REFUSED_DETAIL)
    if isinstance(exc, PoolTimeout) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        unavailable = Unavailable("the database is unreachable", component="database")
        unavailable.__cause__ = exc
        return _platform_error_handler(request, unavailable)
    return _unexpected_error_handler(request, exc)


def _unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.error("unhandled_error", status=500, path=request.url.path, error_type=type(exc).__name__, exc_info=exc)
    return problem_response(request, status=HTTP_500_INTERNAL_SERVER_ERROR, detail=SERVER_ERROR_DETAIL)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    PlatformError: _platform_error_handler,
    HTTPException: _http_exception_handler,
    SQLAlchemyError: _database_error_handler,
    Exception: _unexpected_error_handler,
}
"""Register on the Litestar app: every error leaves as problem+json."""

__all__ = [
    "EXCEPTION_HANDLERS",
    "PROBLEM_JSON",
    "SERVER_ERROR_DETAIL",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Invalid",
    "NotFound",
    "PayloadTooLarge",
    "PlatformError",
    "PreconditionFailed",
    "RateLimited",
    "Unauthenticated",
    "Unavailable",
    "platform_error_document",
    "problem_document",
    "problem_response",
]
