"""The token endpoint's errors in RFC 6749 §5.2 form (`{"error", "error_description"}`), not as problems.

OAuth2 client libraries read a failed token request by its `error` code, so every 400 and 401 of the token
endpoint leaves in that form: the handler's own (`OAuthFailure`), a form that breaks `TokenRequest` (Litestar's
validation), and a form the kernel's input guard cannot read (not UTF-8: its `BadRequest`). `TOKEN_ERRORS` maps
these on the token route only; `TOKEN_ERROR_RESPONSES` documents them. A readable form holding a value no route
accepts (NUL) stays the kernel's 422 problem, documented on every operation like elsewhere.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import ValidationException
from litestar.openapi.datastructures import ResponseSpec

from mlplatform.kernel.errors import BadRequest
from mlplatform.modules.gateway.schemas import OAuthError, OAuthErrorCode

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""RFC 6749 §5.1: token responses, and their errors, are never cached."""


class OAuthFailure(Exception):
    """A refused token request: `status` 400 or 401 with its RFC 6749 `error` code."""

    def __init__(self, status: int, error: OAuthErrorCode, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error: OAuthErrorCode = error
        self.description = description


def oauth_error_response(failure: OAuthFailure) -> Response[OAuthError]:
    headers = dict(NO_STORE)
    if failure.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="mlplatform"'
    body = OAuthError(error=failure.error, error_description=failure.description)
    return Response(body, status_code=failure.status, headers=headers)


def _failure_of_invalid_form(exc: ValidationException) -> OAuthFailure:
    """`unsupported_grant_type` when the form names a grant type other than ours, else `invalid_request`
    (a missing or repeated parameter: RFC 6749 §5.2)."""
    problems = [item for item in exc.extra if isinstance(item, dict)] if isinstance(exc.extra, list) else []
    for item in problems:
        if item.get("key") == "grant_type" and str(item.get("message", "")).startswith("Invalid enum value"):
            return OAuthFailure(400, "unsupported_grant_type", "only client_credentials is supported")
    named = [f"{item.get('key')}: {item.get('message')}" for item in problems if item.get("key") != "data"]
    unnamed = [str(item.get("message")) for item in problems if item.get("key") == "data"]
    return OAuthFailure(400, "invalid_request", "; ".join(named + unnamed) or "the form is not a token request")


def _on_failure(_: Request[Any, Any, Any], exc: OAuthFailure) -> Response[OAuthError]:
    return oauth_error_response(exc)


def _on_invalid_form(_: Request[Any, Any, Any], exc: ValidationException) -> Response[OAuthError]:
    return oauth_error_response(_failure_of_invalid_form(exc))


def _on_unreadable_form(_: Request[Any, Any, Any], exc: BadRequest) -> Response[OAuthError]:
    return oauth_error_response(OAuthFailure(400, "invalid_request", exc.detail))


TOKEN_ERRORS: dict[type[Exception] | int, Any] = {
    OAuthFailure: _on_failure,
    ValidationException: _on_invalid_form,
    BadRequest: _on_unreadable_form,
}
"""Exception handlers of the token route."""

TOKEN_ERROR_RESPONSES = {
    400: ResponseSpec(
        OAuthError,
        description="`invalid_request` (a missing or malformed parameter) or `unsupported_grant_type` (RFC 6749 §5.2).",
        generate_examples=False,
    ),
    401: ResponseSpec(
        OAuthError,
        description="`invalid_client`: no client credentials, or wrong ones (with `WWW-Authenticate: Basic`).",
        generate_examples=False,
    ),
}
