"""Hosts the kernel's `/api/v1/jobs` routes with the gateway's notion of who may see what.

The kernel cannot import the gateway; until `create_app` mounts the jobs routes itself (proposed:
a `jobs` field on `Module` plus a scope provider from the gateway), this module provides them.
"""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from mlplatform.kernel.jobs import JobScope
from mlplatform.kernel.jobs.http import jobs_router
from mlplatform.modules.gateway.api import Principal, Role, requires_authenticated


def provide_job_scope(principal: Principal) -> JobScope:
    return JobScope(
        subject=principal.subject,
        all_projects=principal.platform_admin,
        readable=frozenset(principal.project_roles),
        cancellable=frozenset(p for p, role in principal.project_roles.items() if role >= Role.CONTRIBUTOR),
    )


def build_jobs_router() -> Router:
    return jobs_router(guards=[requires_authenticated], scope=Provide(provide_job_scope, sync_to_thread=False))
