"""Who may see and cancel jobs, in the gateway's terms: handed to the kernel's `/api/v1/jobs` routes.

A caller sees the jobs of the projects they belong to and the jobs they submitted (platform admins
see all); cancelling needs the contributor role in the job's project, or being its creator.
"""

from __future__ import annotations

from litestar.di import Provide

from mlplatform.kernel.jobs import JobScope
from mlplatform.kernel.jobs.http import JobAccess
from mlplatform.modules.gateway.api import Principal, Role, requires_authenticated


def provide_job_scope(principal: Principal) -> JobScope:
    return JobScope(
        subject=principal.subject,
        all_projects=principal.platform_admin,
        readable=frozenset(principal.project_roles),
        cancellable=frozenset(p for p, role in principal.project_roles.items() if role >= Role.CONTRIBUTOR),
    )


JOB_ACCESS = JobAccess(guards=[requires_authenticated], scope=Provide(provide_job_scope, sync_to_thread=False))
