"""OAuth2 token endpoint (RFC 6749 client credentials), discovery metadata, JWKS, browser sessions."""

from __future__ import annotations

import base64
from typing import Annotated, Any, NoReturn
from urllib.parse import unquote_plus

from litestar import Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.gateway.access.ratelimit import AUTH_GROUP
from mlplatform.modules.gateway.api import AUDIT_DETAILS, PUBLIC, Principal, rate_group, requires_authenticated
from mlplatform.modules.gateway.controllers.oauth_errors import (
    NO_STORE,
    TOKEN_ERROR_RESPONSES,
    TOKEN_ERRORS,
    OAuthFailure,
)
from mlplatform.modules.gateway.credentials.authn import SESSION_COOKIE, AuthenticationFailed
from mlplatform.modules.gateway.credentials.jwt_tokens import issue_access_token
from mlplatform.modules.gateway.request_path.login_page import LOGIN_PAGE
from mlplatform.modules.gateway.request_path.origin_policy import SAME_ORIGIN
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.modules.gateway.schemas import MeOut, SessionCreate, TokenRequest, TokenResponse

TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 - a path, not a secret
SESSION_TTL_SECONDS = 8 * 3600
PUBLIC_AUTH = {**PUBLIC, **rate_group(AUTH_GROUP)}
BROWSER_AUTH = {**PUBLIC_AUTH, **SAME_ORIGIN}
"""Sign-in and sign-out: only the platform's own pages (and trusted origins) may call them (login CSRF)."""
CLIENT_AUTH = {**PUBLIC_AUTH, "own_authorization": True}
"""The token endpoint reads `Authorization: Basic` as OAuth client authentication, not as a platform login."""


def _audit_failure(request: Request[Any, Any, Any], failure: AuthenticationFailed) -> None:
    """Name the request's after-response audit row: a failed authentication, whatever the answer's status."""
    request.scope[AUDIT_DETAILS] = {"action": "auth.failed", "outcome": "denied", "detail": failure.reason}  # type: ignore[literal-required]


def _basic_client(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError, and the ValueError of text outside ASCII
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if sep else None


@post(
    TOKEN_PATH,
    tags=["auth"],
    opt=CLIENT_AUTH,
    summary="OAuth2 token endpoint (client_credentials)",
    description=(
        "RFC 6749 §4.4. `client_id` is the service account's name (or `user:<name>` / `service_account:<name>`), "
        "`client_secret` one of its API keys; both may come as HTTP Basic client authentication instead. "
        "Errors are RFC 6749 §5.2 JSON (`error`, `error_description`), not problem documents."
    ),
    status_code=200,
    responses=TOKEN_ERROR_RESPONSES,
    exception_handlers=TOKEN_ERRORS,
)
async def issue_token(
    request: Request[Any, Any, Any],
    data: Annotated[TokenRequest, Body(media_type=RequestEncodingType.URL_ENCODED)],
    gateway: GatewayRuntime,
    platform: PlatformContext,
) -> Response[TokenResponse]:
    basic = _basic_client(request.headers.get("authorization"))
    client_id, secret = basic if basic else (data.client_id or "", data.client_secret or "")
    if not client_id or not secret:
        _refuse_client(request, AuthenticationFailed("no client credentials"))
    try:
        principal = await gateway.authenticator.from_api_key(secret)
    except AuthenticationFailed as exc:
        _refuse_client(request, exc)
    if client_id not in {principal.name, principal.subject}:
        _refuse_client(request, AuthenticationFailed("client_id does not own this key"))
    ttl = platform.settings.auth.access_token_ttl_seconds
    token, _ = await _issue(gateway, platform, principal, ttl)
    return Response(TokenResponse(access_token=token, token_type="Bearer", expires_in=ttl), headers=NO_STORE)  # noqa: S106


def _refuse_client(request: Request[Any, Any, Any], failure: AuthenticationFailed) -> NoReturn:
    _audit_failure(request, failure)
    raise OAuthFailure(401, "invalid_client", "client authentication failed")


async def _issue(gateway: GatewayRuntime, platform: PlatformContext, principal: Principal, ttl: int) -> tuple[str, int]:
    await gateway.keystore.reload_if_stale()
    claims: dict[str, Any] = {"name": principal.subject}
    if principal.credential == "api_key" and principal.credential_id:
        claims["mlp_key"] = principal.credential_id
    return issue_access_token(
        gateway.keystore.ring,
        issuer=platform.settings.token_issuer,
        audience=platform.settings.auth.audience,
        subject=str(principal.id),
        claims=claims,
        ttl_seconds=ttl,
    )


@get("/.well-known/openid-configuration", tags=["auth"], opt=PUBLIC, summary="OIDC / RFC 8414 metadata")
async def openid_configuration(platform: PlatformContext) -> dict[str, Any]:
    issuer = platform.settings.token_issuer
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}{TOKEN_PATH}",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [platform.settings.auth.signing_algorithm],
        "token_endpoint_auth_signing_alg_values_supported": [platform.settings.auth.signing_algorithm],
        "scopes_supported": ["openid"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "jti", "name"],
    }


@get("/.well-known/jwks.json", tags=["auth"], opt=PUBLIC, summary="Public keys that verify platform tokens")
async def jwks(gateway: GatewayRuntime) -> Response[dict[str, Any]]:
    await gateway.keystore.reload_if_stale()
    return Response(gateway.keystore.ring.jwks(), headers={"Cache-Control": "public, max-age=300"})


@get("/api/v1/me", tags=["auth"], guards=[requires_authenticated], summary="Who am I")
async def me(principal: Principal) -> MeOut:
    return MeOut(
        id=principal.id,
        subject=principal.subject,
        kind=principal.kind,
        name=principal.name,
        platform_admin=principal.platform_admin,
        credential=principal.credential,
        projects={project: role.label for project, role in principal.project_roles.items()},  # type: ignore[misc]
    )


@post(
    "/api/v1/auth/session",
    tags=["auth"],
    opt=BROWSER_AUTH,
    summary="Browser sign-in: exchange an API key for an HttpOnly session cookie",
    status_code=303,
)
async def create_session(
    request: Request[Any, Any, Any],
    data: Annotated[SessionCreate, Body(media_type=RequestEncodingType.URL_ENCODED)],
    gateway: GatewayRuntime,
    platform: PlatformContext,
) -> Redirect:
    try:
        principal = await gateway.authenticator.from_api_key(data.api_key.strip())
    except AuthenticationFailed as exc:
        _audit_failure(request, exc)
        return Redirect("/login?error=1", status_code=303)  # a page for the browser, but a denied sign-in
    token, _ = await _issue(gateway, platform, principal, SESSION_TTL_SECONDS)
    return Redirect(
        data.next,
        status_code=303,
        cookies=[
            Cookie(
                key=SESSION_COOKIE,
                value=token,
                max_age=SESSION_TTL_SECONDS,
                httponly=True,
                secure=platform.settings.is_production,
                samesite="strict",
                path="/",
            )
        ],
    )


@delete(
    "/api/v1/auth/session", tags=["auth"], opt={**PUBLIC, **SAME_ORIGIN}, summary="Sign out (clears the session cookie)"
)
async def delete_session() -> Response[None]:
    return Response(None, status_code=204, cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")])


@get("/login", tags=["auth"], opt=PUBLIC, include_in_schema=False, media_type="text/html")
async def login_page() -> str:
    return LOGIN_PAGE
