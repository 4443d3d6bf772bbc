"""The gateway's live collaborators for one app instance (kept in `PlatformContext.extras`)."""

from __future__ import annotations

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.gateway.audit_writer import AuditWriter
from mlplatform.modules.gateway.authn import Authenticator
from mlplatform.modules.gateway.invalidation import Invalidations
from mlplatform.modules.gateway.keystore import KeyStore
from mlplatform.modules.gateway.oidc import ExternalProvider
from mlplatform.modules.gateway.origin_policy import OriginPolicy
from mlplatform.modules.gateway.projects_cache import ProjectCache
from mlplatform.modules.gateway.ratelimit import RateLimiter, RateLimitPolicy

RUNTIME_KEY = "gateway"


class GatewayRuntime:
    """A plain class on purpose: Litestar passes injected instances of it through untouched."""

    def __init__(
        self,
        *,
        keystore: KeyStore,
        authenticator: Authenticator,
        rate_limiter: RateLimiter | None,
        policies: dict[str, RateLimitPolicy],
        projects: ProjectCache,
        providers: list[ExternalProvider],
        audit: AuditWriter,
        origins: OriginPolicy,
        invalidations: Invalidations,
    ) -> None:
        self.keystore = keystore
        self.authenticator = authenticator
        self.rate_limiter = rate_limiter
        self.policies = policies
        self.projects = projects
        self.providers = providers
        self.audit = audit
        self.origins = origins
        self.invalidations = invalidations
        """Forgets changed credentials, roles and projects here and in every replica (`invalidation.py`)."""

    def policy(self, group: str) -> RateLimitPolicy | None:
        return self.policies.get(group) or self.policies.get("api")


def gateway_runtime(platform: PlatformContext) -> GatewayRuntime:
    runtime: GatewayRuntime = platform.extras[RUNTIME_KEY]
    return runtime
