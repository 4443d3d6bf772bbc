"""Deployments, their monitoring rules, records and alerts.

Lock order everywhere: model row, then version/deployment rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mlplatform.kernel.db import lock_for_update
from mlplatform.kernel.pagination import Page, SortOrder, page_of
from mlplatform.modules.catalogue.models import (
    CatalogueDeployment,
    CatalogueModel,
    CatalogueModelVersion,
    CatalogueMonitoringAlert,
    CatalogueMonitoringRecord,
    CatalogueMonitoringRule,
)
from mlplatform.modules.catalogue.rules import LIVE_DEPLOYMENT_STATUSES

D = CatalogueDeployment
M = CatalogueModel
V = CatalogueModelVersion
Alert = CatalogueMonitoringAlert
Record = CatalogueMonitoringRecord
Rule = CatalogueMonitoringRule

DEPLOYMENT_SORTS = {
    order.name: order
    for order in (
        SortOrder("-created_at", (D.created_at, D.id), (datetime, uuid.UUID), descending=True),
        SortOrder("created_at", (D.created_at, D.id), (datetime, uuid.UUID), descending=False),
        SortOrder("-updated_at", (D.updated_at, D.id), (datetime, uuid.UUID), descending=True),
        SortOrder("updated_at", (D.updated_at, D.id), (datetime, uuid.UUID), descending=False),
    )
}
NEWEST_RECORDS = SortOrder("records", (Record.observed_at, Record.id), (datetime, uuid.UUID), descending=True)
NEWEST_ALERTS = SortOrder("alerts", (Alert.opened_at, Alert.id), (datetime, uuid.UUID), descending=True)

DeploymentRow = tuple[CatalogueDeployment, str, int, str, int]
"""A deployment with its model name, version number, version stage and open alert count."""


@dataclass
class DeploymentFilters:
    model: str | None = None
    version: int | None = None
    environment: str | None = None
    status: str | None = None
    """A deployment status, or `live` (pending or active)."""


def _open_alert_count() -> Any:
    return (
        select(func.count()).where(Alert.deployment_id == D.id, Alert.status == "open").correlate(D).scalar_subquery()
    )


def _deployment_select() -> Any:
    return (
        select(D, M.name, V.version, V.stage, _open_alert_count())
        .join(M, M.id == D.model_id)
        .join(V, V.id == D.version_id)
    )


async def deployment_in_project(session: AsyncSession, project: str, deployment_id: uuid.UUID) -> DeploymentRow | None:
    row = (await session.execute(_deployment_select().where(D.id == deployment_id, D.project == project))).first()
    return (row[0], row[1], row[2], row[3], row[4]) if row is not None else None


async def deployment_exists(session: AsyncSession, project: str, deployment_id: uuid.UUID) -> bool:
    found = await session.scalar(select(D.id).where(D.id == deployment_id, D.project == project))
    return found is not None


async def search_deployments(
    session: AsyncSession, project: str, filters: DeploymentFilters, order: SortOrder, *, cursor: str | None, limit: int
) -> Page[DeploymentRow]:
    statement = _deployment_select().where(D.project == project)
    if filters.model is not None:
        statement = statement.where(M.name == filters.model)
    if filters.version is not None:
        statement = statement.where(V.version == filters.version)
    if filters.environment is not None:
        statement = statement.where(D.environment == filters.environment)
    if filters.status == "live":
        statement = statement.where(D.status.in_(LIVE_DEPLOYMENT_STATUSES))
    elif filters.status is not None:
        statement = statement.where(D.status == filters.status)
    rows = (await session.execute(order.apply(statement, cursor, limit))).all()
    return page_of(
        [(r[0], r[1], r[2], r[3], r[4]) for r in rows],
        limit,
        order,
        lambda r: [getattr(r[0], key) for key in order.keys],
    )


async def live_share(
    session: AsyncSession, model_id: uuid.UUID, environment: str, *, excluding: uuid.UUID | None = None
) -> tuple[int, list[uuid.UUID]]:
    """Sum of traffic shares of the model's live deployments in `environment`, and their ids."""
    statement = select(D.id, D.traffic_share).where(
        D.model_id == model_id, D.environment == environment, D.status.in_(LIVE_DEPLOYMENT_STATUSES)
    )
    if excluding is not None:
        statement = statement.where(D.id != excluding)
    rows = (await session.execute(statement)).tuples().all()
    return sum(share for _, share in rows), [deployment_id for deployment_id, _ in rows]


async def lock_deployment(session: AsyncSession, deployment_id: uuid.UUID) -> CatalogueDeployment:
    """The deployment row (which must exist), locked until commit."""
    return (
        await session.scalars(
            select(D).where(D.id == deployment_id).with_for_update().execution_options(populate_existing=True)
        )
    ).one()


async def lock_deployment_in_project(
    session: AsyncSession, project: str, deployment_id: uuid.UUID
) -> tuple[CatalogueDeployment, str] | None:
    """The deployment row, locked until commit, and its model's name."""
    await lock_for_update(session)
    row = (
        await session.execute(
            select(D, M.name)
            .join(M, M.id == D.model_id)
            .where(D.id == deployment_id, D.project == project)
            .with_for_update(of=D)
            .execution_options(populate_existing=True)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def lock_unretired_of_version(session: AsyncSession, version_id: uuid.UUID) -> Sequence[CatalogueDeployment]:
    """The version's deployments that are not retired yet, locked until commit."""
    await lock_for_update(session)
    return (
        await session.scalars(
            select(D)
            .where(D.version_id == version_id, D.status != "retired")
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()


async def lock_live_in_environment(
    session: AsyncSession, model_id: uuid.UUID, environment: str
) -> list[tuple[CatalogueDeployment, int]]:
    """The model's live deployments in `environment` with their version numbers, locked until commit."""
    rows = (
        await session.execute(
            select(D, V.version)
            .join(V, V.id == D.version_id)
            .where(D.model_id == model_id, D.environment == environment, D.status.in_(LIVE_DEPLOYMENT_STATUSES))
            .with_for_update(of=D)
            .execution_options(populate_existing=True)
        )
    ).all()
    return [(row[0], row[1]) for row in rows]


async def open_alerts(session: AsyncSession, deployment_id: uuid.UUID) -> Sequence[CatalogueMonitoringAlert]:
    return (
        await session.scalars(
            select(Alert)
            .where(Alert.deployment_id == deployment_id, Alert.status == "open")
            .order_by(Alert.opened_at, Alert.id)
        )
    ).all()


async def rules_of(session: AsyncSession, deployment_id: uuid.UUID) -> Sequence[CatalogueMonitoringRule]:
    return (await session.scalars(select(Rule).where(Rule.deployment_id == deployment_id).order_by(Rule.name))).all()


async def rule_by_id(session: AsyncSession, rule_id: uuid.UUID) -> CatalogueMonitoringRule | None:
    return await session.get(Rule, rule_id)


async def rule_names(session: AsyncSession, deployment_id: uuid.UUID) -> set[str]:
    return set(await session.scalars(select(Rule.name).where(Rule.deployment_id == deployment_id)))


async def resolve_open_alerts_of_rule(session: AsyncSession, rule_id: uuid.UUID, *, at: datetime) -> None:
    await session.execute(
        update(Alert)
        .where(Alert.rule_id == rule_id, Alert.status == "open")
        .values(status="resolved", resolved_at=at)
        .execution_options(synchronize_session=False)
    )


async def records_page(
    session: AsyncSession,
    deployment_id: uuid.UUID,
    *,
    metric: str | None,
    since: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[CatalogueMonitoringRecord]:
    statement = select(Record).where(Record.deployment_id == deployment_id)
    if metric is not None:
        statement = statement.where(Record.metric == metric)
    if since is not None:
        statement = statement.where(Record.observed_at >= since)
    rows = (await session.scalars(NEWEST_RECORDS.apply(statement, cursor, limit))).all()
    return page_of(rows, limit, NEWEST_RECORDS)


async def alerts_page(
    session: AsyncSession, deployment_id: uuid.UUID, *, status: str | None, cursor: str | None, limit: int
) -> Page[CatalogueMonitoringAlert]:
    statement = select(Alert).where(Alert.deployment_id == deployment_id)
    if status is not None:
        statement = statement.where(Alert.status == status)
    rows = (await session.scalars(NEWEST_ALERTS.apply(statement, cursor, limit))).all()
    return page_of(rows, limit, NEWEST_ALERTS)


ManagedRow = tuple[CatalogueDeployment, CatalogueModel, CatalogueModelVersion, CatalogueModelVersion | None]


def _managed_select() -> Any:
    following = aliased(V)
    return (
        select(D, M, V, following)
        .join(M, M.id == D.model_id)
        .join(V, V.id == D.version_id)
        .outerjoin(following, following.id == D.next_version_id)
        .where(D.mode == "managed")
    )


async def live_managed(session: AsyncSession) -> Sequence[ManagedRow]:
    """Every live (pending or active) managed deployment with its model, version and the version it moves to
    (None when it is not moving), oldest first."""
    statement = _managed_select().where(D.status.in_(LIVE_DEPLOYMENT_STATUSES)).order_by(D.created_at, D.id)
    return [(d, m, v, n) for d, m, v, n in (await session.execute(statement)).all()]


async def find_deployment(session: AsyncSession, deployment_id: uuid.UUID) -> CatalogueDeployment | None:
    return await session.get(D, deployment_id, with_for_update=True, populate_existing=True)


async def lock_live_managed_of_model(session: AsyncSession, model_id: uuid.UUID) -> Sequence[CatalogueDeployment]:
    """The model's live managed deployments, locked until commit (the model row is locked first)."""
    statement = (
        select(D)
        .where(D.model_id == model_id, D.mode == "managed", D.status.in_(LIVE_DEPLOYMENT_STATUSES))
        .order_by(D.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(statement)).all()


async def managed_in_project(session: AsyncSession, project: str, deployment_id: uuid.UUID) -> ManagedRow | None:
    row = (await session.execute(_managed_select().where(D.id == deployment_id, D.project == project))).first()
    return (row[0], row[1], row[2], row[3]) if row is not None else None
