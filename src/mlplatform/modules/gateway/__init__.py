"""Gateway: identity, access tokens, API keys, external OIDC providers, RBAC, rate limits and audit."""

from __future__ import annotations

from datetime import timedelta

from litestar.di import Provide

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.health import HealthCheck
from mlplatform.kernel.module import Module
from mlplatform.modules.gateway.api import CALL_GATE_KEY, DIRECTORY_KEY, EXPRESS_GATE_KEY
from mlplatform.modules.gateway.audit import record_in_transaction
from mlplatform.modules.gateway.audit_writer import AuditWriter
from mlplatform.modules.gateway.authn import Authenticator
from mlplatform.modules.gateway.bootstrap import announce, ensure_admin
from mlplatform.modules.gateway.call_gate import GatewayCallGate
from mlplatform.modules.gateway.controllers.audit import list_audit_events
from mlplatform.modules.gateway.controllers.deps import provide_gateway, provide_principal
from mlplatform.modules.gateway.controllers.oauth import (
    create_session,
    delete_session,
    issue_token,
    jwks,
    login_page,
    me,
    openid_configuration,
)
from mlplatform.modules.gateway.controllers.principals import (
    ApiKeyController,
    ServiceAccountController,
    UserController,
)
from mlplatform.modules.gateway.controllers.projects import ProjectController
from mlplatform.modules.gateway.express_gate import ExpressGate
from mlplatform.modules.gateway.invalidation import Invalidations
from mlplatform.modules.gateway.jobs_access import JOB_ACCESS
from mlplatform.modules.gateway.keystore import KeyStore
from mlplatform.modules.gateway.middleware import gateway_middleware
from mlplatform.modules.gateway.oidc import ExternalProvider, RoleMapping
from mlplatform.modules.gateway.origin_policy import OriginPolicy
from mlplatform.modules.gateway.projects_cache import ProjectCache
from mlplatform.modules.gateway.purge import purge_project
from mlplatform.modules.gateway.ratelimit import (
    InMemoryRateLimiter,
    LeasingRateLimiter,
    RateLimiter,
    RateLimitPolicy,
    RedisRateLimiter,
)
from mlplatform.modules.gateway.runtime import RUNTIME_KEY, GatewayRuntime

VERIFICATION_LEEWAY = timedelta(seconds=60)


async def start_gateway(platform: PlatformContext) -> None:
    settings = platform.settings
    keystore = KeyStore(
        platform.database,
        secrets=platform.secrets,
        environment=settings.env.value,
        algorithm=settings.auth.signing_algorithm,
        max_token_age=timedelta(seconds=max(settings.auth.access_token_ttl_seconds, 8 * 3600)) + VERIFICATION_LEEWAY,
    )
    await keystore.ensure()
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
    audit = AuditWriter(platform.database)
    audit.start()
    authenticator = Authenticator(
        platform.database,
        keystore,
        issuer=settings.token_issuer,
        audience=settings.auth.audience,
        cache_seconds=settings.auth.credential_cache_seconds,
        providers=providers,
    )
    invalidations = Invalidations(authenticator, projects, platform.redis)
    invalidations.start()
    runtime = platform.extras[RUNTIME_KEY] = GatewayRuntime(
        keystore=keystore,
        authenticator=authenticator,
        rate_limiter=limiter,
        policies=policies,
        projects=projects,
        providers=providers,
        audit=audit,
        origins=OriginPolicy(public_url=settings.server.public_url, trusted=settings.http.cors_origins),
        invalidations=invalidations,
    )
    platform.extras[DIRECTORY_KEY] = projects
    platform.extras[EXPRESS_GATE_KEY] = ExpressGate(runtime, production=settings.is_production)
    platform.extras[CALL_GATE_KEY] = GatewayCallGate(runtime)
    platform.before_request_commit.append(record_in_transaction)
    generated = await ensure_admin(platform.database, settings.bootstrap_admin_key)
    if generated is not None:
        announce(generated)


async def stop_gateway(platform: PlatformContext) -> None:
    runtime: GatewayRuntime | None = platform.extras.get(RUNTIME_KEY)
    if runtime is not None:
        await runtime.invalidations.stop()
        await runtime.audit.stop()
        for provider in runtime.providers:
            await provider.aclose()


def _health_checks(platform: PlatformContext) -> list[HealthCheck]:
    checks = []
    for index, provider_settings in enumerate(platform.settings.auth.oidc_providers):

        async def probe(position: int = index) -> None:
            runtime: GatewayRuntime = platform.extras[RUNTIME_KEY]
            await runtime.providers[position].refresh()

        checks.append(HealthCheck(f"oidc:{provider_settings.issuer}", probe, required=False))
    return checks


module = Module(
    name="gateway",
    route_handlers=[
        issue_token,
        openid_configuration,
        jwks,
        me,
        create_session,
        delete_session,
        login_page,
        ProjectController,
        UserController,
        ServiceAccountController,
        ApiKeyController,
        list_audit_events,
    ],
    health_checks=_health_checks,
    on_startup=[start_gateway],
    on_shutdown=[stop_gateway],
    middleware=[gateway_middleware],
    job_access=JOB_ACCESS,
    purge_project=purge_project,
    dependencies={
        "principal": Provide(provide_principal, sync_to_thread=False),
        "gateway": Provide(provide_gateway, sync_to_thread=False),
    },
    openapi_tags=[
        ("auth", "OAuth2 token endpoint, discovery, JWKS, browser sessions, who-am-I."),
        ("projects", "Projects (the unit of tenancy) and their members' roles."),
        ("principals", "Users, service accounts and API keys."),
        ("audit", "The audit log."),
    ],
)
