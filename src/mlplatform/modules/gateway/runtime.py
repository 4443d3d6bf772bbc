"""The gateway's live objects for one app instance, kept in `PlatformContext.runtimes`.

Other modules reach them through `api.py` (`project_directory`, `express_gate`, `call_gate`); the gateway's
own code looks the runtime up with `platform.runtimes.get(GatewayRuntime)`.
"""

from __future__ import annotations

from datetime import timedelta

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.health import HealthCheck
from mlplatform.modules.gateway.access.invalidation import Invalidations
from mlplatform.modules.gateway.access.projects_cache import ProjectCache
from mlplatform.modules.gateway.access.ratelimit import (
    InMemoryRateLimiter,
    LeasingRateLimiter,
    RateLimiter,
    RateLimitPolicy,
    RedisRateLimiter,
)
from mlplatform.modules.gateway.api import CallGate, ExpressGate
from mlplatform.modules.gateway.audit.recording import record_in_transaction
from mlplatform.modules.gateway.audit.writer import AuditWriter
from mlplatform.modules.gateway.credentials.authn import Authenticator
from mlplatform.modules.gateway.credentials.bootstrap import announce, ensure_admin
from mlplatform.modules.gateway.credentials.keystore import KeyStore
from mlplatform.modules.gateway.credentials.oidc import ExternalProvider, RoleMapping
from mlplatform.modules.gateway.request_path.origin_policy import OriginPolicy

VERIFICATION_LEEWAY = timedelta(seconds=60)


class GatewayRuntime:
    """A plain class on purpose: Litestar passes injected instances of it through untouched."""

    component = "gateway"

    def __init__(
        self,
        platform: PlatformContext,
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
        self._platform = platform
        self.keystore = keystore
        self.authenticator = authenticator
        self.rate_limiter = rate_limiter
        self.policies = policies
        self.projects = projects
        """Which projects exist, cached in process: the `api.ProjectDirectory` other modules check against."""
        self.providers = providers
        self.audit = audit
        self.origins = origins
        self.invalidations = invalidations
        """Forgets changed credentials, roles and projects here and in every replica (`access/invalidation.py`)."""
        # The gates import the middleware, which looks this class up: imported here, not at the top.
        from mlplatform.modules.gateway.request_path.call_gate import GatewayCallGate
        from mlplatform.modules.gateway.request_path.express_gate import ExpressGate as GatewayExpressGate

        self.express_gate: ExpressGate = GatewayExpressGate(self)
        """The middleware's and the project guard's checks for express routes (`kernel/express.py`)."""
        self.call_gate: CallGate = GatewayCallGate(self)
        """The same checks for calls that do not arrive over HTTP (the features module's gRPC port)."""

    def policy(self, group: str) -> RateLimitPolicy | None:
        return self.policies.get(group) or self.policies.get("api")

    async def start(self) -> None:
        await self.keystore.ensure()
        self.audit.start()
        self.invalidations.start()
        self._platform.before_request_commit.append(record_in_transaction)
        generated = await ensure_admin(self._platform.database, self._platform.settings.bootstrap_admin_key)
        if generated is not None:
            announce(generated)

    async def stop(self) -> None:
        if record_in_transaction in self._platform.before_request_commit:
            self._platform.before_request_commit.remove(record_in_transaction)
        await self.invalidations.stop()
        await self.audit.stop()
        for provider in self.providers:
            await provider.aclose()


def build_runtime(platform: PlatformContext) -> GatewayRuntime:
    settings = platform.settings
    keystore = KeyStore(
        platform.database,
        secrets=platform.secrets,
        environment=settings.env.value,
        algorithm=settings.auth.signing_algorithm,
        max_token_age=timedelta(seconds=max(settings.auth.access_token_ttl_seconds, 8 * 3600)) + VERIFICATION_LEEWAY,
    )
    providers = [
        ExternalProvider(
            p.issuer,
            p.audience,
            role_mapping=RoleMapping(p.role_mapping),
            groups_claim=p.groups_claim,
            email_claim=p.email_claim,
            allow_insecure_http=p.allow_insecure_http,
        )
        for p in settings.auth.oidc_providers
    ]
    limiter: RateLimiter | None = None
    if settings.rate_limits.enabled:
        limiter = (
            LeasingRateLimiter(
                RedisRateLimiter(platform.redis),
                max_batch=settings.rate_limits.lease_batch,
                lease_seconds=settings.rate_limits.lease_seconds,
            )
            if platform.redis is not None
            else InMemoryRateLimiter()
        )
    policies = {
        group: RateLimitPolicy(limit, settings.rate_limits.window_seconds)
        for group, limit in settings.rate_limits.groups.items()
    }
    projects = ProjectCache(platform.database)
    authenticator = Authenticator(
        platform.database,
        keystore,
        issuer=settings.token_issuer,
        audience=settings.auth.audience,
        cache_seconds=settings.auth.credential_cache_seconds,
        providers=providers,
    )
    return GatewayRuntime(
        platform,
        keystore=keystore,
        authenticator=authenticator,
        rate_limiter=limiter,
        policies=policies,
        projects=projects,
        providers=providers,
        audit=AuditWriter(platform.database),
        origins=OriginPolicy(public_url=settings.server.public_url, trusted=settings.http.cors_origins),
        invalidations=Invalidations(authenticator, projects, platform.redis),
    )


def health_checks(platform: PlatformContext) -> list[HealthCheck]:
    """One optional probe per external OIDC provider: its discovery document and keys can be fetched."""
    checks = []
    for index, provider_settings in enumerate(platform.settings.auth.oidc_providers):

        async def probe(position: int = index) -> None:
            await platform.runtimes.get(GatewayRuntime).providers[position].refresh()

        checks.append(HealthCheck(f"oidc:{provider_settings.issuer}", probe, required=False))
    return checks
