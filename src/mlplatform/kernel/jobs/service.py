"""Reading jobs with visibility rules: who may see and cancel which jobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from mlplatform.kernel.errors import Forbidden, Invalid, NotFound
from mlplatform.kernel.jobs.model import JobStatus, KernelJob
from mlplatform.kernel.jobs.runtime import JobRuntime
from mlplatform.kernel.jobs.schemas import Job, JobPage
from mlplatform.kernel.pagination import SortOrder, check_limit, page_of

NEWEST_FIRST = SortOrder("created_desc", (KernelJob.created_at, KernelJob.id), (datetime, uuid.UUID), descending=True)


@dataclass(frozen=True)
class JobScope:
    """What the caller may see. Built by whoever hosts the routes from its notion of identity
    (the gateway's principal), so the kernel needs no knowledge of users or roles."""

    subject: str
    all_projects: bool = False
    readable: frozenset[str] = field(default_factory=frozenset)
    """Projects whose jobs the caller may read."""
    cancellable: frozenset[str] = field(default_factory=frozenset)
    """Projects whose jobs the caller may cancel."""

    def can_read(self, job: KernelJob) -> bool:
        if self.all_projects or job.created_by == self.subject:
            return True
        return job.project is not None and job.project in self.readable

    def can_cancel(self, job: KernelJob) -> bool:
        if self.all_projects or job.created_by == self.subject:
            return True
        return job.project is not None and job.project in self.cancellable

    def visibility(self) -> ColumnElement[bool] | None:
        if self.all_projects:
            return None
        return or_(KernelJob.created_by == self.subject, KernelJob.project.in_(sorted(self.readable)))


async def list_jobs(
    session: AsyncSession,
    scope: JobScope,
    *,
    project: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> JobPage:
    size = check_limit(limit)
    query = select(KernelJob)
    visible = scope.visibility()
    if visible is not None:
        query = query.where(visible)
    if project is not None:
        query = query.where(KernelJob.project == project)
    if kind is not None:
        query = query.where(KernelJob.kind == kind)
    if status is not None:
        try:
            JobStatus(status)
        except ValueError:
            allowed = ", ".join(s.value for s in JobStatus)
            raise Invalid(f"status: must be one of {allowed}", parameter="status") from None
        query = query.where(KernelJob.status == status)
    rows = (await session.scalars(NEWEST_FIRST.apply(query, cursor, size))).all()
    page = page_of(rows, size, NEWEST_FIRST)
    return JobPage(items=[Job.from_row(row) for row in page.items], next_cursor=page.next_cursor)


async def get_job(session: AsyncSession, scope: JobScope, job_id: uuid.UUID) -> Job:
    row = await session.get(KernelJob, job_id)
    if row is None or not scope.can_read(row):
        raise NotFound(f"job {job_id} not found")
    return Job.from_row(row)


async def cancel_job(session: AsyncSession, scope: JobScope, runtime: JobRuntime, job_id: uuid.UUID) -> Job:
    row = await session.get(KernelJob, job_id)
    if row is None or not scope.can_read(row):
        raise NotFound(f"job {job_id} not found")
    if not scope.can_cancel(row):
        raise Forbidden(f"cancelling job {job_id} needs the contributor role in project {row.project!r}")
    return Job.from_row(await runtime.cancel(session, job_id))
