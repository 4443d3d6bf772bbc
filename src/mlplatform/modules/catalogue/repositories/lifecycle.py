"""Validations, stage history, transition requests and approvals of a model version."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import lock_for_update
from mlplatform.kernel.pagination import Page, SortOrder, page_of
from mlplatform.modules.catalogue.models import (
    CatalogueApproval,
    CatalogueStageTransition,
    CatalogueTransitionRequest,
    CatalogueValidation,
)

R = CatalogueTransitionRequest

NEWEST_VALIDATIONS = SortOrder(
    "validations", (CatalogueValidation.created_at, CatalogueValidation.id), (datetime, uuid.UUID), descending=True
)
NEWEST_TRANSITIONS = SortOrder(
    "transitions",
    (CatalogueStageTransition.created_at, CatalogueStageTransition.id),
    (datetime, uuid.UUID),
    descending=True,
)
NEWEST_REQUESTS = SortOrder("requests", (R.created_at, R.id), (datetime, uuid.UUID), descending=True)
NEWEST_APPROVALS = SortOrder(
    "approvals", (CatalogueApproval.created_at, CatalogueApproval.id), (datetime, uuid.UUID), descending=True
)


async def latest_validations(session: AsyncSession, version_id: uuid.UUID) -> dict[str, str]:
    """Check name → status of its most recent record."""
    ranked = (
        select(
            CatalogueValidation.name,
            CatalogueValidation.status,
            func.row_number()
            .over(
                partition_by=CatalogueValidation.name,
                order_by=(CatalogueValidation.created_at.desc(), CatalogueValidation.id.desc()),
            )
            .label("rank"),
        )
        .where(CatalogueValidation.version_id == version_id)
        .subquery()
    )
    rows = await session.execute(select(ranked.c.name, ranked.c.status).where(ranked.c.rank == 1))
    return {name: status for name, status in rows.tuples()}


async def validations_page(
    session: AsyncSession, version_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[CatalogueValidation]:
    statement = select(CatalogueValidation).where(CatalogueValidation.version_id == version_id)
    rows = (await session.scalars(NEWEST_VALIDATIONS.apply(statement, cursor, limit))).all()
    return page_of(rows, limit, NEWEST_VALIDATIONS)


async def transitions_page(
    session: AsyncSession, version_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[CatalogueStageTransition]:
    statement = select(CatalogueStageTransition).where(CatalogueStageTransition.version_id == version_id)
    rows = (await session.scalars(NEWEST_TRANSITIONS.apply(statement, cursor, limit))).all()
    return page_of(rows, limit, NEWEST_TRANSITIONS)


async def pending_request(
    session: AsyncSession, version_id: uuid.UUID, *, for_update: bool = False
) -> CatalogueTransitionRequest | None:
    statement = select(R).where(R.version_id == version_id, R.status == "pending")
    if for_update:
        await lock_for_update(session)
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(statement)).first()


async def supersede_pending(
    session: AsyncSession, version_id: uuid.UUID, *, keeping: uuid.UUID | None, at: datetime, by: str
) -> None:
    """Mark the version's pending requests (but `keeping`, the one being applied) superseded."""
    await session.execute(
        update(R)
        .where(
            R.version_id == version_id,
            R.status == "pending",
            R.id != (keeping if keeping is not None else uuid.UUID(int=0)),
        )
        .values(status="superseded", resolved_at=at, resolved_by=by)
        .execution_options(synchronize_session=False)
    )


async def requests_page(
    session: AsyncSession, version_id: uuid.UUID, *, status: str | None, cursor: str | None, limit: int
) -> Page[CatalogueTransitionRequest]:
    statement = select(R).where(R.version_id == version_id)
    if status is not None:
        statement = statement.where(R.status == status)
    rows = (await session.scalars(NEWEST_REQUESTS.apply(statement, cursor, limit))).all()
    return page_of(rows, limit, NEWEST_REQUESTS)


async def request_decisions(
    session: AsyncSession, request_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[CatalogueApproval]]:
    result: dict[uuid.UUID, list[CatalogueApproval]] = {rid: [] for rid in request_ids}
    if not request_ids:
        return result
    rows = await session.scalars(
        select(CatalogueApproval)
        .where(CatalogueApproval.request_id.in_(request_ids))
        .order_by(CatalogueApproval.created_at, CatalogueApproval.id)
    )
    for approval in rows:
        result[approval.request_id].append(approval)
    return result


async def has_decided(session: AsyncSession, request_id: uuid.UUID, actor: str) -> bool:
    """Whether `actor` has already approved or rejected the request."""
    found = await session.scalar(
        select(CatalogueApproval.id).where(CatalogueApproval.request_id == request_id, CatalogueApproval.actor == actor)
    )
    return found is not None


async def approvals_page(
    session: AsyncSession, version_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[CatalogueApproval]:
    statement = select(CatalogueApproval).where(CatalogueApproval.version_id == version_id)
    rows = (await session.scalars(NEWEST_APPROVALS.apply(statement, cursor, limit))).all()
    return page_of(rows, limit, NEWEST_APPROVALS)
