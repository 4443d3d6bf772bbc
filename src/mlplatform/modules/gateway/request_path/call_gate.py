"""The gateway's checks for calls that do not come through the HTTP stack (`api.CallGate`): the Feast
registry's gRPC port in the features module. Same authenticator (and its cache), same rate limiter and
budgets, same audit rows as `middleware.py`, with the call's method name where HTTP has a path."""

from __future__ import annotations

from typing import Any

from mlplatform.kernel.errors import Unauthenticated, Unavailable
from mlplatform.modules.gateway.api import Principal
from mlplatform.modules.gateway.audit.recording import audit_values
from mlplatform.modules.gateway.credentials.authn import AuthenticationFailed, IdentityProviderDown
from mlplatform.modules.gateway.request_path.middleware import limit_rate
from mlplatform.modules.gateway.runtime import GatewayRuntime

CALL_METHOD = "GRPC"
"""`method` of the audit rows these calls leave (HTTP rows have GET, POST ...)."""


class GatewayCallGate:
    def __init__(self, runtime: GatewayRuntime) -> None:
        self._runtime = runtime

    async def authenticate(
        self, authorization: str | None, *, client: str, target: str, rate_group: str = "api"
    ) -> Principal:
        if not authorization:
            await limit_rate(self._runtime, "anonymous", f"ip:{client}")
            self._audit(None, client=client, target=target, project=None, status=401, detail="no credentials")
            raise Unauthenticated("credentials required: send `authorization: Bearer <token or API key>`")
        try:
            principal = await self._runtime.authenticator.authenticate(authorization, None)
        except AuthenticationFailed as exc:
            await limit_rate(self._runtime, "auth", f"ip:{client}")
            self._audit(
                None, client=client, target=target, project=None, status=401, detail=exc.reason, action="auth.failed"
            )
            raise Unauthenticated(f"invalid credentials: {exc.reason}") from None
        except IdentityProviderDown as exc:
            raise Unavailable(str(exc), component="identity-provider") from None
        if principal is None:  # only for an empty credential, refused above
            raise Unauthenticated("credentials required")
        await limit_rate(self._runtime, rate_group, principal.rate_key)
        return principal

    def deny(self, principal: Principal, *, client: str, target: str, project: str | None, detail: str) -> None:
        self._audit(principal, client=client, target=target, project=project, status=403, detail=detail)

    def _audit(
        self,
        principal: Principal | None,
        *,
        client: str,
        target: str,
        project: str | None,
        status: int,
        detail: str,
        action: str | None = None,
    ) -> None:
        scope: dict[str, Any] = {
            "method": CALL_METHOD,
            "path": target,
            "client": (client, 0),
            "path_params": {"project": project} if project else {},
        }
        self._runtime.audit.add(
            audit_values(
                scope,
                principal=principal,
                outcome="denied",
                status_code=status,
                action=action or target.rsplit("/", 1)[-1],
                detail=detail,
            )
        )
