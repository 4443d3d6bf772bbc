"""The gateway's public facade: what other modules may import.

Every route declares what it needs with a guard:

    @post("/api/v1/projects/{project:str}/models", guards=[requires_role(Role.CONTRIBUTOR)])
    async def create_model(project: str, principal: Principal, ...) -> ...

- `requires_role(role)` reads the `project` path parameter. A caller who is not a member of the project
  (or the project does not exist) gets **404** "project not found" — outsiders cannot learn which projects
  exist; a member whose role is too low gets **403**. Platform admins pass every project check.
- `requires_platform_admin` for platform-wide administration, `requires_authenticated` for "any caller".
- Routes reachable without credentials carry `opt=PUBLIC`.
- `principal: Principal` is injectable in every handler; `ensure_role(principal, project, role)` does the same
  check as the guard for code that is not a route (e.g. MLflow endpoints mapped to projects).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard, Scope
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Forbidden, NotFound, Unauthenticated
from mlplatform.kernel.openapi_problems import PROBLEM_STATUSES_ATTRIBUTE
from mlplatform.kernel.system import PUBLIC

if TYPE_CHECKING:
    from mlplatform.modules.gateway.runtime import GatewayRuntime

__all__ = [
    "AUDITED_FLAG",
    "AUDIT_DETAILS",
    "PUBLIC",
    "READ_ONLY",
    "CallGate",
    "ExpressAdmission",
    "ExpressGate",
    "Principal",
    "ProjectDirectory",
    "Role",
    "call_gate",
    "current_principal",
    "ensure_role",
    "express_gate",
    "find_project_directory",
    "project_directory",
    "rate_group",
    "record_system_action",
    "requires_authenticated",
    "requires_platform_admin",
    "requires_role",
]


class Role(IntEnum):
    """Project roles, ordered: each includes the rights of the ones below it."""

    VIEWER = 1
    CONTRIBUTOR = 2
    MAINTAINER = 3
    ADMIN = 4

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}: one of viewer, contributor, maintainer, admin") from None

    @property
    def label(self) -> str:
        return self.name.lower()


PrincipalKind = Literal["user", "service_account"]
ANY_PROJECT = "*"
"""Key in `Principal.project_roles` for a role held in every project (from an OIDC group mapping)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, after authentication, with the roles that apply to this credential.

    `project_roles` already has an API key's scope applied (a key limited to one project with a role
    ceiling only shows that project, at most at that role).
    """

    id: uuid.UUID
    kind: PrincipalKind
    name: str
    platform_admin: bool = False
    project_roles: Mapping[str, Role] = field(default_factory=dict)
    credential: str = "jwt"
    """How the caller authenticated: `jwt`, `api_key` or `oidc`."""
    credential_id: str | None = None
    """Public id of the credential (API key id, token jti) for audit; never a secret."""
    subject: str = field(init=False, repr=False, compare=False)
    """Stable, human-readable actor name used in audit rows and events (`user:alice`)."""
    rate_key: str = field(init=False, repr=False, compare=False)
    """The principal's rate-limit subject (`p:<id>`). Both are formatted once: a principal lives in the
    credential cache and answers every request its credential makes."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "subject", f"{self.kind}:{self.name}")
        object.__setattr__(self, "rate_key", f"p:{self.id}")

    def role_in(self, project: str) -> Role | None:
        if self.platform_admin:
            return Role.ADMIN
        held = self.project_roles.get(project)
        everywhere = self.project_roles.get(ANY_PROJECT)
        if held is None or (everywhere is not None and everywhere > held):
            return everywhere
        return held

    def can(self, project: str, role: Role) -> bool:
        held = self.role_in(project)
        return held is not None and held >= role


class ProjectDirectory(Protocol):
    """Which projects exist (the gateway keeps it cached in process and refreshes it on change)."""

    async def exists(self, project: str) -> bool: ...


def project_directory(platform: PlatformContext) -> ProjectDirectory:
    """The gateway's project directory; a 503 naming `gateway` when the gateway is not running."""
    return platform.runtimes.get(_runtime_class()).projects


def find_project_directory(platform: PlatformContext) -> ProjectDirectory | None:
    """The gateway's project directory, or None when this app runs without the gateway module."""
    runtime = platform.runtimes.find(_runtime_class())
    return None if runtime is None else runtime.projects


class ExpressAdmission(Protocol):
    @property
    def principal(self) -> Principal: ...
    @property
    def headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """Rate-limit headers for the answer (the kernel adds the security headers to every response)."""
        ...


class ExpressGate(Protocol):
    """The gateway's checks for express routes (`kernel/express.py`): `admit` returns None when the
    request must take the full stack instead (no bearer credential, invalid, not allowed in the project;
    nothing was counted or recorded), raises `RateLimited` when over the group's budget."""

    async def admit(self, scope: Scope, *, project: str, role: Role, rate_group: str) -> ExpressAdmission | None: ...


def express_gate(platform: PlatformContext) -> ExpressGate:
    return platform.runtimes.get(_runtime_class()).express_gate


class CallGate(Protocol):
    """The gateway's checks for calls that do not arrive over HTTP (the features module's gRPC registry
    port): the same credentials, verification cache, rate limits and audit log as the HTTP middleware.

    `client` is the caller's address (for per-address limits), `target` what was called
    (`/feast.registry.RegistryServer/ListFeatureViews`): both only go into rate-limit keys and audit rows."""

    async def authenticate(
        self, authorization: str | None, *, client: str, target: str, rate_group: str = "api"
    ) -> Principal:
        """The caller. Raises `Unauthenticated` (no or an invalid credential: counted against the client's
        `anonymous` / `auth` budget and audited like a 401), `Unavailable` (identity provider down) or
        `RateLimited` (the principal is over the group's budget)."""
        ...

    def deny(self, principal: Principal, *, client: str, target: str, project: str | None, detail: str) -> None:
        """Audit a refused call of an authenticated caller (wrong project, a write on a read-only port)."""
        ...


def call_gate(platform: PlatformContext) -> CallGate:
    return platform.runtimes.get(_runtime_class()).call_gate


@functools.cache
def _runtime_class() -> type[GatewayRuntime]:
    # `runtime.py` imports most of the gateway, which imports this facade: imported on first use, then cached.
    from mlplatform.modules.gateway.runtime import GatewayRuntime

    return GatewayRuntime


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise Unauthenticated("credentials required", headers={"WWW-Authenticate": 'Bearer realm="mlplatform"'})
    return user


async def ensure_role(principal: Principal, project: str, role: Role, *, projects: ProjectDirectory) -> None:
    """Raise NotFound (not a member / no such project) or Forbidden (role too low)."""
    held = principal.role_in(project)
    # Roles not held through a membership (platform admins, OIDC `*` mappings, credentials cached before a
    # deletion) must not reach a project that does not exist or is deleted and being purged.
    if held is None or not await projects.exists(project):
        raise NotFound(f"project {project!r} not found")
    if held < role:
        raise Forbidden(f"this needs the {role.label} role in project {project!r}; you have {held.label}")


_NO_CREDENTIALS = "The route needs an authenticated caller."


PROJECT_ROLES_CHECKED = "mlplatform.project_roles_checked"
"""Scope key the gateway middleware sets once it has made the checks of a route's `requires_role` guards itself."""


def requires_role(role: Role, *, project_param: str = "project") -> Guard:
    """The caller needs at least `role` in the project named by the path parameter `project_param`.

    The gateway middleware makes this check itself, right after authentication and rate limiting (one
    gateway check per request); the guard then only confirms that it did. Without the middleware (an app
    composed without it, a test calling the guard) the guard makes the check."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get(PROJECT_ROLES_CHECKED):
            return
        principal = current_principal(connection)
        project = connection.path_params.get(project_param)
        if not isinstance(project, str):
            raise RuntimeError(f"route guarded by project role has no {project_param!r} path parameter")
        await ensure_role(principal, project, role, projects=project_directory(connection.app.state.platform))

    guard.__qualname__ = f"requires_role({role.label})"
    guard.required_role = role  # type: ignore[attr-defined]
    guard.project_param = project_param  # type: ignore[attr-defined]
    guard.gateway_guard = True  # type: ignore[attr-defined]
    setattr(
        guard,
        PROBLEM_STATUSES_ATTRIBUTE,
        {
            401: _NO_CREDENTIALS,
            403: f"The caller's role in the project is below {role.label}.",
            404: "The project does not exist, or the caller is not a member of it.",
        },
    )
    return guard


async def requires_authenticated(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    current_principal(connection)


async def requires_platform_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if not current_principal(connection).platform_admin:
        raise Forbidden("this needs a platform admin")


# Read by `request_path/guard_calls.skip_handler_copies`: these guards never use their handler argument.
requires_authenticated.gateway_guard = True  # type: ignore[attr-defined]
requires_platform_admin.gateway_guard = True  # type: ignore[attr-defined]
# Read by the OpenAPI document (`kernel/openapi_problems.py`): the problems each guard answers with.
setattr(requires_authenticated, PROBLEM_STATUSES_ATTRIBUTE, {401: _NO_CREDENTIALS})
setattr(
    requires_platform_admin,
    PROBLEM_STATUSES_ATTRIBUTE,
    {401: _NO_CREDENTIALS, 403: "The caller is not a platform admin."},
)


AUDITED_FLAG = "mlplatform.audited"
"""Set `scope[AUDITED_FLAG] = True` when a request needs no audit row from the gateway (a read sent as POST)."""
AUDIT_DETAILS = "mlplatform.audit"
"""Set `scope[AUDIT_DETAILS] = {"action", "project", "resource"}` to name what a request did in its audit row
(optionally also `"outcome"` and `"detail"`, when the status alone says it wrongly, e.g. a failed sign-in that
answers with a redirect)."""
READ_ONLY = {"read_only": True}
"""Route `opt` for a POST that only reads (online feature serving, searches): not audited as a mutation,
and open to viewers by the route-table test."""


def record_system_action(
    session: AsyncSession, *, actor: str, action: str, project: str | None, resource: str, detail: str
) -> None:
    """An audit row, in `session`'s transaction, for what the platform did on its own (no request carried it):
    it commits, or not, with the change it describes."""
    # Imported here: the audit package imports this facade (Principal, the scope keys).
    from mlplatform.modules.gateway.audit.recording import system_row

    session.add(system_row(actor=actor, action=action, project=project, resource=resource, detail=detail))


def rate_group(name: str) -> dict[str, str]:
    """Route `opt` putting a route in a rate-limit group with its own budget (e.g. `online`, `mlflow`)."""
    return {"rate_group": name}
