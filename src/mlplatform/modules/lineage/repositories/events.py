"""The stored OpenLineage events (`lineage_openlineage_events`): listing, inserting, the emitter's claims and
outcomes, the replay's reads; and the kernel job behind an event (for the run facets built from it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.jobs.model import KernelJob
from mlplatform.kernel.pagination import SortOrder
from mlplatform.modules.lineage.access import Visibility
from mlplatform.modules.lineage.models import OpenLineageEventRow
from mlplatform.modules.lineage.repositories.graph_writer import dialect_insert

NEWEST_FIRST = SortOrder(name="-id", columns=(OpenLineageEventRow.id,), kinds=(int,), descending=True)


def _visible(visibility: Visibility, project: Any) -> Any:
    if visibility.any_project:
        return project.is_not(None)
    return project.in_(visibility.projects)


async def list_events(
    session: AsyncSession,
    *,
    visibility: Visibility,
    project: str | None,
    status: str | None,
    job_name: str | None,
    run_id: str | None,
    cursor: str | None,
    limit: int,
) -> list[OpenLineageEventRow]:
    """Newest first, continued after `cursor`: up to `limit + 1` rows (`kernel.pagination.page_of`)."""
    conditions: list[Any] = []
    if project is not None:
        conditions.append(OpenLineageEventRow.project == project)
    elif not visibility.everything:
        conditions.append(_visible(visibility, OpenLineageEventRow.project))
    if status is not None:
        conditions.append(OpenLineageEventRow.status == status)
    if job_name is not None:
        conditions.append(OpenLineageEventRow.job_name == job_name)
    if run_id is not None:
        conditions.append(OpenLineageEventRow.run_id == run_id)
    statement = NEWEST_FIRST.apply(select(OpenLineageEventRow).where(*conditions), cursor, limit)
    return list((await session.scalars(statement)).all())


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows keyed (source_event_id, ordinal); those already stored are left alone. Returns how many
    were new."""
    table: Any = OpenLineageEventRow.__table__
    statement = (
        dialect_insert(session)(table)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=[table.c.source_event_id, table.c.ordinal])
        .returning(table.c.id)
    )
    return len((await session.execute(statement)).all())


async def claim_due(
    session: AsyncSession, *, now: datetime, batch_size: int, lease_until: datetime
) -> Sequence[Row[tuple[int, dict[str, Any], int]]]:
    """Due rows (id, body, attempts), oldest first, stopping before the first pending row that is not due
    (backing off after a failure, or leased by another replica), leased until `lease_until`."""
    blocked_from = (
        select(func.min(OpenLineageEventRow.id))
        .where(OpenLineageEventRow.status == "pending", OpenLineageEventRow.next_attempt_at > now)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(OpenLineageEventRow.id, OpenLineageEventRow.body, OpenLineageEventRow.attempts)
            .where(
                OpenLineageEventRow.status == "pending",
                OpenLineageEventRow.next_attempt_at <= now,
                or_(blocked_from.is_(None), OpenLineageEventRow.id < blocked_from),
            )
            .order_by(OpenLineageEventRow.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if rows:
        await session.execute(
            update(OpenLineageEventRow)
            .where(OpenLineageEventRow.id.in_([row.id for row in rows]))
            .values(next_attempt_at=lease_until)
        )
    return rows


async def mark_emitted(session: AsyncSession, row_id: int, *, attempts: int, at: datetime) -> None:
    await session.execute(
        update(OpenLineageEventRow)
        .where(OpenLineageEventRow.id == row_id)
        .values(status="emitted", attempts=attempts, emitted_at=at, last_error=None)
    )


async def mark_failed(
    session: AsyncSession, row_id: int, *, gave_up: bool, attempts: int, error: str, retry_at: datetime
) -> None:
    await session.execute(
        update(OpenLineageEventRow)
        .where(OpenLineageEventRow.id == row_id)
        .values(
            status="failed" if gave_up else "pending", attempts=attempts, last_error=error, next_attempt_at=retry_at
        )
    )


async def hold(session: AsyncSession, row_ids: Sequence[int], *, until: datetime) -> None:
    """Make the rows due no earlier than `until`."""
    await session.execute(
        update(OpenLineageEventRow).where(OpenLineageEventRow.id.in_(row_ids)).values(next_attempt_at=until)
    )


async def stored_after(
    session: AsyncSession,
    last_id: int,
    *,
    since: datetime | None,
    project: str | None,
    statuses: list[str] | None,
    limit: int,
) -> Sequence[Row[tuple[int, dict[str, Any]]]]:
    """(id, body) of up to `limit` stored events after `last_id`, oldest first."""
    statement = select(OpenLineageEventRow.id, OpenLineageEventRow.body).where(OpenLineageEventRow.id > last_id)
    if since is not None:
        statement = statement.where(OpenLineageEventRow.event_time >= since)
    if project is not None:
        statement = statement.where(OpenLineageEventRow.project == project)
    if statuses:
        statement = statement.where(OpenLineageEventRow.status.in_(statuses))
    return (await session.execute(statement.order_by(OpenLineageEventRow.id).limit(limit))).all()


async def kernel_job(session: AsyncSession, job_id: uuid.UUID) -> KernelJob | None:
    return await session.get(KernelJob, job_id)
