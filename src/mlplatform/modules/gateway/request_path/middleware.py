"""The gateway middleware: authenticate, rate-limit and audit every routed request.

Order per request: credentials → `Principal` (cached verification; 401 problem+json and an audit row
when a credential is invalid or a protected route is called without one) → rate limit per principal
(or per client address when anonymous: the `auth` group on sign-in and token routes, `anonymous`
elsewhere) and route group, one Redis round trip (429 with `Retry-After`) → for a write with the session
cookie and for sign-in/sign-out, the page's origin (`origin_policy.py`; 403) → the project role the route's
`requires_role` guards ask for (404/403, checked here so the guards need not) → the route → after the
response, an audit row for mutations the request's own transaction did not already record.

Rate limiting fails open when Redis is unreachable (logged): a cache outage must not take the whole
platform down; every other Redis-backed feature answers 503 on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

import structlog
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from mlplatform.kernel.db import Database
from mlplatform.kernel.errors import Forbidden, NotFound, RateLimited, Unauthenticated, Unavailable
from mlplatform.kernel.request_context import RESPONSE_HEADERS, RESPONSE_STATUS
from mlplatform.kernel.request_ids import current_actor
from mlplatform.modules.gateway.access.invalidation import PENDING
from mlplatform.modules.gateway.access.ratelimit import AUTH_GROUP, LimiterUnavailable, RateLimitResult
from mlplatform.modules.gateway.api import PROJECT_ROLES_CHECKED, Principal, Role, ensure_role
from mlplatform.modules.gateway.audit.recording import (
    AUDITED_FLAG,
    MUTATING_METHODS,
    AuditValues,
    audit_row,
    audit_values,
    record_separately,
)
from mlplatform.modules.gateway.credentials.authn import SESSION_COOKIE, AuthenticationFailed, IdentityProviderDown
from mlplatform.modules.gateway.request_path.guard_calls import skip_handler_copies
from mlplatform.modules.gateway.runtime import GatewayRuntime

log = structlog.get_logger("mlplatform.gateway")

PUBLIC_PATH_PREFIXES = ("/schema",)
"""Paths served by Litestar itself (the OpenAPI document and its viewers) that need no credentials."""
_WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="mlplatform", charset="UTF-8"'}
_last_redis_warning = 0.0


@dataclass(frozen=True, slots=True)
class _RouteOptions:
    """What the gateway reads from a route handler's `opt`, read once per handler instead of once per request."""

    public: bool
    own_authorization: bool
    rate_group: str
    audited: bool
    """Whether a mutating request gets an audit row from the gateway (not for routes marked `read_only`)."""
    same_origin: bool
    is_mount: bool
    project_roles: tuple[tuple[str, Role], ...]
    """(path parameter, role) of each `requires_role` guard of the route: checked here, not by the guard."""

    @classmethod
    def of(cls, handler: object) -> _RouteOptions:
        opt = getattr(handler, "opt", None) or {}
        guards = handler.resolve_guards() if isinstance(handler, BaseRouteHandler) else ()
        return cls(
            public=bool(opt.get("public")),
            own_authorization=bool(opt.get("own_authorization")),
            rate_group=opt.get("rate_group", "api"),
            audited=not opt.get("read_only"),
            same_origin=bool(opt.get("same_origin")),
            is_mount=bool(getattr(handler, "is_mount", False)),
            project_roles=tuple(
                (getattr(guard, "project_param"), getattr(guard, "required_role"))  # noqa: B009  set by requires_role
                for guard in guards
                if hasattr(guard, "required_role")
            ),
        )


def gateway_middleware(app: ASGIApp) -> ASGIApp:
    # Litestar builds this once per route; what never changes is looked up on the first request.
    routes: dict[int, _RouteOptions] = {}
    runtime: GatewayRuntime | None = None
    database: Database | None = None

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal runtime, database
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if runtime is None or database is None:
            platform = scope["app"].state.platform
            runtime, database = platform.runtimes.get(GatewayRuntime), platform.database
        handler = scope.get("route_handler")
        route = routes.get(id(handler))
        if route is None:
            route = routes[id(handler)] = _RouteOptions.of(handler)
            skip_handler_copies(handler)
        try:
            principal = (
                None if route.own_authorization else await runtime.authenticator.authenticate(*_credentials(scope))
            )
        except AuthenticationFailed as exc:
            await limit_rate(runtime, AUTH_GROUP, _client_key(scope))
            await record_separately(
                database,
                audit_row(
                    scope, principal=None, outcome="denied", status_code=401, action="auth.failed", detail=exc.reason
                ),
            )
            raise Unauthenticated(f"invalid credentials: {exc.reason}", headers=_WWW_AUTHENTICATE) from None
        except IdentityProviderDown as exc:
            raise Unavailable(str(exc), component="identity-provider") from None

        if principal is not None:
            scope["user"] = principal
            current_actor.set(principal.subject)
            result = await limit_rate(runtime, route.rate_group, principal.rate_key)
        elif route.public or scope["path"].startswith(PUBLIC_PATH_PREFIXES):
            group = AUTH_GROUP if route.rate_group == AUTH_GROUP else "anonymous"
            result = await limit_rate(runtime, group, _client_key(scope))
        else:
            await limit_rate(runtime, "anonymous", _client_key(scope))
            if _browser_navigation(scope):
                await _redirect_to_login(scope, send)
                return
            await record_separately(
                database,
                audit_row(scope, principal=None, outcome="denied", status_code=401, detail="no credentials"),
            )
            raise Unauthenticated("credentials required", headers=_WWW_AUTHENTICATE)

        if scope["method"] in MUTATING_METHODS and _page_credential(route, principal):  # type: ignore[typeddict-item]
            foreign = runtime.origins.foreign_origin(scope)
            if foreign is not None:
                detail = f"cross-origin request from {foreign}"
                runtime.audit.add(
                    audit_values(scope, principal=principal, outcome="denied", status_code=403, detail=detail)
                )
                raise Forbidden(
                    f"{detail} refused: a browser session writes, signs in and out only from the platform's own "
                    "pages or the origins in http.cors_origins"
                )

        if route.project_roles and principal is not None:
            await _ensure_project_roles(runtime, route, scope, principal)

        if result is not None:  # the kernel's outermost layer puts them on the response (`request_context.py`)
            scope[RESPONSE_HEADERS] = result.raw_headers()  # type: ignore[literal-required]
        try:
            await app(scope, receive, send)
            changes: list[str] | None = scope.get(PENDING)  # type: ignore[assignment]
            if changes:  # the request's transaction has committed by now
                await runtime.invalidations.announce(changes)
        finally:
            if scope["method"] in MUTATING_METHODS and route.audited and not scope.get(AUDITED_FLAG):  # type: ignore[typeddict-item]
                status: int = scope.get(RESPONSE_STATUS, 500)  # type: ignore[assignment]
                runtime.audit.add(_after_response_row(scope, principal, status))

    return middleware


async def limit_rate(runtime: GatewayRuntime, group: str, who: str) -> RateLimitResult | None:
    """Count one hit; raise RateLimited when over budget. None when limiting is off or Redis is down."""
    policy = runtime.policy(group)
    if runtime.rate_limiter is None or policy is None:
        return None
    try:
        result = await runtime.rate_limiter.hit(f"{group}:{who}", policy)
    except LimiterUnavailable:
        _warn_redis_down()
        return None
    if not result.allowed:
        raise RateLimited(
            f"rate limit of {policy.limit} requests per {policy.window_seconds:g}s exceeded for {group!r}",
            headers=result.headers(),
        )
    return result


async def _ensure_project_roles(
    runtime: GatewayRuntime, route: _RouteOptions, scope: Scope, principal: Principal
) -> None:
    """The checks of the route's `requires_role` guards, made here so that the guards need not repeat them."""
    try:
        for param, role in route.project_roles:
            await ensure_role(principal, scope["path_params"][param], role, projects=runtime.projects)
    except (NotFound, Forbidden) as exc:
        if scope["method"] in MUTATING_METHODS and route.audited:  # type: ignore[typeddict-item]
            runtime.audit.add(_after_response_row(scope, principal, exc.status_code))
        raise
    scope[PROJECT_ROLES_CHECKED] = True  # type: ignore[literal-required]


def _warn_redis_down() -> None:
    global _last_redis_warning
    now = time.monotonic()
    if now - _last_redis_warning > 10:
        _last_redis_warning = now
        log.warning("rate_limit_skipped_redis_unreachable")


def _page_credential(route: _RouteOptions, principal: Principal | None) -> bool:
    """Whether a web page could have made the browser send this request with its own credential: a route that
    only the platform's pages may call, or the session cookie (a mounted app such as MLflow checks its own)."""
    if route.same_origin:
        return True
    return principal is not None and principal.credential == "session" and not route.is_mount


def _after_response_row(scope: Scope, principal: Principal | None, status: int) -> AuditValues:
    outcome = "success" if status < 400 else "denied" if status in {401, 403} else "failed"
    return audit_values(scope, principal=principal, outcome=outcome, status_code=status)


def _browser_navigation(scope: Scope) -> bool:
    """A browser opening a page (GET preferring HTML): send it to the sign-in page instead of a 401 body."""
    if scope.get("method") != "GET":
        return False
    accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
    return accept.startswith(b"text/html")


async def _redirect_to_login(scope: Scope, send: Send) -> None:
    # A mounted app (MLflow at /mlflow) sees its path without the prefix; `raw_path` is what the browser asked for.
    raw = scope.get("raw_path")
    target = raw.decode("latin-1").partition("?")[0] if raw else scope["path"]  # some clients leave the query in
    query = (scope.get("query_string") or b"").decode("latin-1")
    if query:
        target = f"{target}?{query}"
    location = ("/login?" + urlencode({"next": target})).encode("latin-1")
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location), (b"content-length", b"0"), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _client_key(scope: Scope) -> str:
    """Rate-limit subject of an unauthenticated request: its client address."""
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


def _credentials(scope: Scope) -> tuple[str | None, str | None]:
    """The Authorization header and the session cookie, if present."""
    authorization: str | None = None
    session: str | None = None
    for key, value in scope["headers"]:
        if key == b"authorization":
            authorization = value.decode("latin-1")
        elif key == b"cookie":
            session = _cookie(value.decode("latin-1"), SESSION_COOKIE)
    return authorization, session


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None
