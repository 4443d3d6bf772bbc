"""Gateway: identity, access tokens, API keys, external OIDC providers, RBAC, rate limits and audit."""

from __future__ import annotations

from litestar.di import Provide

from mlplatform.kernel.module import Module
from mlplatform.modules.gateway.access.jobs_access import JOB_ACCESS
from mlplatform.modules.gateway.controllers.audit import list_audit_events
from mlplatform.modules.gateway.controllers.dependencies import provide_gateway, provide_principal
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
from mlplatform.modules.gateway.purge import purge_project
from mlplatform.modules.gateway.request_path.middleware import gateway_middleware
from mlplatform.modules.gateway.request_path.openapi_answers import route_answers
from mlplatform.modules.gateway.runtime import build_runtime, health_checks

module = Module(
    name="gateway",
    runtime=build_runtime,
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
    health_checks=health_checks,
    middleware=[gateway_middleware],
    route_answers=route_answers,
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
