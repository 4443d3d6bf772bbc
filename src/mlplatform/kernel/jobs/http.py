"""`/api/v1/jobs` routes, mounted by the kernel whatever modules are enabled.

The kernel knows nothing about users or roles: the identity module (the gateway) hands it a
`JobAccess` — the guards to apply and a dependency that turns the current request into a `JobScope`
(what the caller may see and cancel). Without one, the routes refuse every caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Router, get, post
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter
from litestar.types import Guard
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Conflict, Unauthenticated
from mlplatform.kernel.jobs import service
from mlplatform.kernel.jobs.runtime import jobs_runtime
from mlplatform.kernel.jobs.schemas import Job, JobPage
from mlplatform.kernel.jobs.service import JobScope

TAG = ("jobs", "Long-running work (materialization, training sets, validation runs): status, progress, result.")


@dataclass(frozen=True)
class JobAccess:
    """Who may use the jobs API, as the identity module sees it."""

    guards: Sequence[Guard]
    """Applied to every jobs route (e.g. "any authenticated caller")."""
    scope: Provide
    """Provides the `job_scope: JobScope` dependency of the routes from the current request."""


@get("/", tags=["jobs"], summary="List jobs you can see, newest first")
async def list_jobs(
    db_session: AsyncSession,
    job_scope: JobScope,
    project: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Parameter(ge=1, le=500)] = None,
) -> JobPage:
    """Jobs of the projects you can read (platform admins see all). Filter by project, kind or status."""
    return await service.list_jobs(
        db_session, job_scope, project=project, kind=kind, status=status, cursor=cursor, limit=limit
    )


@get("/{job_id:uuid}", tags=["jobs"], summary="One job: status, progress, result or error")
async def get_job(db_session: AsyncSession, job_scope: JobScope, job_id: uuid.UUID) -> Job:
    return await service.get_job(db_session, job_scope, job_id)


@post(
    "/{job_id:uuid}/cancel",
    tags=["jobs"],
    status_code=200,
    summary="Cancel a queued or running job",
    raises=[Conflict],
)
async def cancel_job(
    db_session: AsyncSession, job_scope: JobScope, platform: PlatformContext, job_id: uuid.UUID
) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop and ends as `cancelled`.
    409 when the job already ended."""
    return await service.cancel_job(db_session, job_scope, jobs_runtime(platform), job_id)


async def _no_identity(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    raise Unauthenticated("no identity module is enabled: the jobs API refuses every caller")


def _no_scope() -> JobScope:
    raise Unauthenticated("no identity module is enabled: the jobs API refuses every caller")


NO_ACCESS = JobAccess(guards=[_no_identity], scope=Provide(_no_scope, sync_to_thread=False))
"""Fail closed when no module provides `JobAccess`."""


def jobs_router(access: JobAccess | None = None, *, opt: dict[str, Any] | None = None) -> Router:
    """The jobs API under `/api/v1/jobs`, guarded as `access` says (no access: nobody gets in)."""
    chosen = access or NO_ACCESS
    return Router(
        path="/api/v1/jobs",
        route_handlers=[list_jobs, get_job, cancel_job],
        guards=list(chosen.guards),
        dependencies={"job_scope": chosen.scope},
        opt=opt or {},
    )
