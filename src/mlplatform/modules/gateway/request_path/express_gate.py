"""The gateway for express routes (`kernel/express.py`): the same checks as the middleware and the
project guard, for requests answered before Litestar's router.

Only the common case is admitted: a bearer credential (API key or token) that verifies, held by a
member of the project with at least the route's role. Everything else — no credential, a session
cookie, an invalid credential, a caller without the role — is declined *before any side effect*, so
the full stack answers it (with its 401/403/404, audit row and rate limit) as if the express route did
not exist. An admitted request counts against the route's rate-limit group exactly once; over budget
raises `RateLimited` (429 with `Retry-After`, as from the middleware).
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.types import Scope

from mlplatform.kernel.errors import Forbidden, NotFound
from mlplatform.kernel.request_ids import current_actor
from mlplatform.modules.gateway.api import Principal, Role, ensure_role
from mlplatform.modules.gateway.credentials.authn import AuthenticationFailed, IdentityProviderDown
from mlplatform.modules.gateway.request_path.middleware import limit_rate
from mlplatform.modules.gateway.runtime import GatewayRuntime


@dataclass(frozen=True, slots=True)
class Admission:
    principal: Principal
    headers: tuple[tuple[bytes, bytes], ...]
    """Rate-limit headers for the answer (what the middleware adds to routed responses; the kernel adds the
    security headers to every response)."""


class ExpressGate:
    def __init__(self, runtime: GatewayRuntime) -> None:
        self._runtime = runtime

    async def admit(self, scope: Scope, *, project: str, role: Role, rate_group: str) -> Admission | None:
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if authorization is None:
            return None
        try:
            principal = await self._runtime.authenticator.authenticate(authorization.decode("latin-1"), None)
        except (AuthenticationFailed, IdentityProviderDown):
            return None
        if principal is None:
            return None
        try:  # the project guard's own check (`requires_role`)
            await ensure_role(principal, project, role, projects=self._runtime.projects)
        except (NotFound, Forbidden):
            return None
        scope["user"] = principal
        current_actor.set(principal.subject)
        result = await limit_rate(self._runtime, rate_group, principal.rate_key)
        return Admission(principal=principal, headers=() if result is None else tuple(result.raw_headers()))
