"""The catalogue's queries. Each list or search is one SQL statement (no per-row follow-up queries,
no Python loops over a model's versions; see mlflow#16582 for what that costs at thousands of versions).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, cast, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from mlplatform.kernel.db import lock_for_update
from mlplatform.kernel.pagination import SortOrder
from mlplatform.modules.catalogue.models import (
    CatalogueApproval,
    CatalogueDeployment,
    CatalogueModel,
    CatalogueModelVersion,
    CatalogueMonitoringAlert,
    CatalogueMonitoringRule,
    CatalogueTransitionRequest,
    CatalogueValidation,
)
from mlplatform.modules.catalogue.rules import LIVE_DEPLOYMENT_STATUSES

M = CatalogueModel
V = CatalogueModelVersion
ProductionVersion = aliased(CatalogueModelVersion, name="production_version")

MODEL_SORTS = {
    order.name: order
    for order in (
        SortOrder("name", (M.name,), (str,), descending=False),
        SortOrder("-name", (M.name,), (str,), descending=True),
        SortOrder("updated_at", (M.updated_at, M.id), (datetime, uuid.UUID), descending=False),
        SortOrder("-updated_at", (M.updated_at, M.id), (datetime, uuid.UUID), descending=True),
        SortOrder("created_at", (M.created_at, M.id), (datetime, uuid.UUID), descending=False),
        SortOrder("-created_at", (M.created_at, M.id), (datetime, uuid.UUID), descending=True),
    )
}

VERSION_SORTS = {
    order.name: order
    for order in (
        SortOrder("created_at", (V.created_at, V.id), (datetime, uuid.UUID), descending=False),
        SortOrder("-created_at", (V.created_at, V.id), (datetime, uuid.UUID), descending=True),
        SortOrder("updated_at", (V.updated_at, V.id), (datetime, uuid.UUID), descending=False),
        SortOrder("-updated_at", (V.updated_at, V.id), (datetime, uuid.UUID), descending=True),
    )
}
"""Orders for a project-wide version search."""

MODEL_VERSION_SORTS = {
    order.name: order
    for order in (
        SortOrder("version", (V.version,), (int,), descending=False),
        SortOrder("-version", (V.version,), (int,), descending=True),
        *VERSION_SORTS.values(),
    )
}
"""Orders for the versions of one model (adds the version number)."""


@dataclass
class ModelFilters:
    q: str | None = None
    """Case-insensitive substring of the name or description."""
    tags: dict[str, str] = field(default_factory=dict)
    """Every tag must be present with exactly this value."""
    owner: str | None = None
    task_type: str | None = None
    stage: str | None = None
    """Models having at least one version in this stage."""
    framework: str | None = None
    """Models having at least one version of this framework."""
    updated_since: datetime | None = None


@dataclass
class VersionFilters:
    q: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    stage: str | None = None
    framework: str | None = None
    source_run_id: str | None = None
    updated_since: datetime | None = None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def tags_match(column: Any, tags: dict[str, str], dialect: str) -> ColumnElement[bool]:
    """All `tags` present with these values. PostgreSQL: one `@>` containment served by the GIN
    index (jsonb_path_ops) however many tags are asked for; SQLite: one JSON lookup per tag."""
    if dialect == "postgresql":
        return column.op("@>")(cast(tags, JSONB))
    return and_(*(func.json_extract(column, f'$."{key}"') == value for key, value in tags.items()))


def model_select() -> Any:
    """A model with the number of its production version (at most one: the partial unique index)."""
    return select(M, ProductionVersion.version).outerjoin(
        ProductionVersion, and_(ProductionVersion.model_id == M.id, ProductionVersion.stage == "production")
    )


async def model_by_name(session: AsyncSession, project: str, name: str) -> tuple[CatalogueModel, int | None] | None:
    row = (await session.execute(model_select().where(M.project == project, M.name == name))).first()
    return (row[0], row[1]) if row is not None else None


async def lock_model(session: AsyncSession, project: str, name: str) -> CatalogueModel | None:
    """The model row, locked until the end of the transaction (PostgreSQL: the row; SQLite: the database's
    write lock, taken before the read, see `lock_for_update`)."""
    await lock_for_update(session)
    return (
        await session.scalars(
            select(M)
            .where(M.project == project, M.name == name)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()


async def search_models(
    session: AsyncSession,
    project: str,
    filters: ModelFilters,
    order: SortOrder,
    *,
    cursor: str | None,
    limit: int,
) -> Sequence[tuple[CatalogueModel, int | None]]:
    dialect = session.get_bind().dialect.name
    statement = model_select().where(M.project == project)
    if filters.q:
        pattern = _like(filters.q)
        statement = statement.where(or_(M.name.ilike(pattern, escape="\\"), M.description.ilike(pattern, escape="\\")))
    if filters.tags:
        statement = statement.where(tags_match(M.tags, filters.tags, dialect))
    if filters.owner is not None:
        statement = statement.where(M.owner == filters.owner)
    if filters.task_type is not None:
        statement = statement.where(M.task_type == filters.task_type)
    if filters.updated_since is not None:
        statement = statement.where(M.updated_at >= filters.updated_since)
    if filters.stage is not None:
        statement = statement.where(exists().where(V.model_id == M.id, V.stage == filters.stage))
    if filters.framework is not None:
        statement = statement.where(exists().where(V.model_id == M.id, V.framework == filters.framework))
    rows = (await session.execute(order.apply(statement, cursor, limit))).tuples().all()
    return [(row[0], row[1]) for row in rows]


async def search_versions(
    session: AsyncSession,
    project: str,
    filters: VersionFilters,
    order: SortOrder,
    *,
    model_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Sequence[tuple[CatalogueModelVersion, str]]:
    dialect = session.get_bind().dialect.name
    statement = select(V, M.name).join(M, M.id == V.model_id)
    statement = (
        statement.where(V.model_id == model_id) if model_id is not None else statement.where(V.project == project)
    )
    if filters.q:
        pattern = _like(filters.q)
        statement = statement.where(or_(M.name.ilike(pattern, escape="\\"), V.description.ilike(pattern, escape="\\")))
    if filters.tags:
        statement = statement.where(tags_match(V.tags, filters.tags, dialect))
    if filters.stage is not None:
        statement = statement.where(V.stage == filters.stage)
    if filters.framework is not None:
        statement = statement.where(V.framework == filters.framework)
    if filters.source_run_id is not None:
        statement = statement.where(V.source_run_id == filters.source_run_id)
    if filters.updated_since is not None:
        statement = statement.where(V.updated_at >= filters.updated_since)
    rows = (await session.execute(order.apply(statement, cursor, limit))).tuples().all()
    return [(row[0], row[1]) for row in rows]


async def version_by_number(
    session: AsyncSession, model_id: uuid.UUID, number: int, *, for_update: bool = False
) -> CatalogueModelVersion | None:
    statement = select(V).where(V.model_id == model_id, V.version == number)
    if for_update:
        await lock_for_update(session)
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(statement)).first()


async def version_by_mlflow(
    session: AsyncSession, model_id: uuid.UUID, *, mlflow_version: str | None, run_id: str
) -> CatalogueModelVersion | None:
    """The version registered from this MLflow registry version (or, without one, from this run)."""
    statement = select(V).where(V.model_id == model_id)
    if mlflow_version is not None:
        statement = statement.where(V.mlflow_version == mlflow_version)
    else:
        statement = statement.where(V.source_run_id == run_id, V.source_type == "mlflow").order_by(V.version)
    return (await session.scalars(statement.limit(1))).first()


async def next_version_number(session: AsyncSession, model_id: uuid.UUID) -> int:
    """Allocate the next version number. The UPDATE locks the model row until commit, so concurrent
    registrations of one model are numbered one after another without gaps or duplicates."""
    number = await session.scalar(
        update(M)
        .where(M.id == model_id)
        .values(latest_version=M.latest_version + 1)
        .returning(M.latest_version)
        .execution_options(synchronize_session=False)
    )
    if number is None:
        raise LookupError(f"model {model_id} vanished")
    return int(number)


async def current_production(session: AsyncSession, model_id: uuid.UUID) -> CatalogueModelVersion | None:
    return (await session.scalars(select(V).where(V.model_id == model_id, V.stage == "production"))).first()


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


async def pending_request(
    session: AsyncSession, version_id: uuid.UUID, *, for_update: bool = False
) -> CatalogueTransitionRequest | None:
    statement = select(CatalogueTransitionRequest).where(
        CatalogueTransitionRequest.version_id == version_id, CatalogueTransitionRequest.status == "pending"
    )
    if for_update:
        await lock_for_update(session)
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(statement)).first()


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


async def live_share(
    session: AsyncSession, model_id: uuid.UUID, environment: str, *, excluding: uuid.UUID | None = None
) -> tuple[int, list[uuid.UUID]]:
    """Sum of traffic shares of the model's live deployments in `environment`, and their ids."""
    statement = select(CatalogueDeployment.id, CatalogueDeployment.traffic_share).where(
        CatalogueDeployment.model_id == model_id,
        CatalogueDeployment.environment == environment,
        CatalogueDeployment.status.in_(LIVE_DEPLOYMENT_STATUSES),
    )
    if excluding is not None:
        statement = statement.where(CatalogueDeployment.id != excluding)
    rows = (await session.execute(statement)).tuples().all()
    return sum(share for _, share in rows), [deployment_id for deployment_id, _ in rows]


def open_alert_count() -> Any:
    return (
        select(func.count())
        .where(
            CatalogueMonitoringAlert.deployment_id == CatalogueDeployment.id,
            CatalogueMonitoringAlert.status == "open",
        )
        .correlate(CatalogueDeployment)
        .scalar_subquery()
    )


def deployment_select() -> Any:
    """A deployment with its model name, version number and stage and its open alert count."""
    return (
        select(CatalogueDeployment, M.name, V.version, V.stage, open_alert_count())
        .join(M, M.id == CatalogueDeployment.model_id)
        .join(V, V.id == CatalogueDeployment.version_id)
    )


async def open_alerts(session: AsyncSession, deployment_id: uuid.UUID) -> Sequence[CatalogueMonitoringAlert]:
    return (
        await session.scalars(
            select(CatalogueMonitoringAlert)
            .where(CatalogueMonitoringAlert.deployment_id == deployment_id, CatalogueMonitoringAlert.status == "open")
            .order_by(CatalogueMonitoringAlert.opened_at, CatalogueMonitoringAlert.id)
        )
    ).all()


async def rules_of(session: AsyncSession, deployment_id: uuid.UUID) -> Sequence[CatalogueMonitoringRule]:
    return (
        await session.scalars(
            select(CatalogueMonitoringRule)
            .where(CatalogueMonitoringRule.deployment_id == deployment_id)
            .order_by(CatalogueMonitoringRule.name)
        )
    ).all()
