"""Models and versions: lookups, locks, version numbering and the two searches.

Each list or search is one SQL statement (no per-row follow-up queries, no Python loops over a
model's versions; see mlflow#16582 for what that costs at thousands of versions).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mlplatform.kernel.db import lock_for_update
from mlplatform.kernel.pagination import Page, SortOrder, page_of
from mlplatform.modules.catalogue.models import CatalogueModel, CatalogueModelVersion
from mlplatform.modules.catalogue.repositories.common import (
    dialect_of,
    insert_ignoring_duplicates,
    like,
    tags_match,
)

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


async def insert_model(session: AsyncSession, values: dict[str, Any]) -> CatalogueModel | None:
    """Insert a model row; None when (project, name) is taken (checked by the unique constraint, race-free)."""
    statement = insert_ignoring_duplicates(session, M, values, ["project", "name"]).returning(M.id)
    model_id = await session.scalar(statement)
    return None if model_id is None else await session.get_one(M, model_id)


async def search_models(
    session: AsyncSession,
    project: str,
    filters: ModelFilters,
    order: SortOrder,
    *,
    cursor: str | None,
    limit: int,
) -> Page[tuple[CatalogueModel, int | None]]:
    statement = model_select().where(M.project == project)
    if filters.q:
        pattern = like(filters.q)
        statement = statement.where(or_(M.name.ilike(pattern, escape="\\"), M.description.ilike(pattern, escape="\\")))
    if filters.tags:
        statement = statement.where(tags_match(M.tags, filters.tags, dialect_of(session)))
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
    rows = (await session.execute(order.apply(statement, cursor, limit))).all()
    return page_of([(row[0], row[1]) for row in rows], limit, order, lambda r: _sort_values(r[0], order))


async def search_versions(
    session: AsyncSession,
    project: str,
    filters: VersionFilters,
    order: SortOrder,
    *,
    model_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[tuple[CatalogueModelVersion, str]]:
    statement = select(V, M.name).join(M, M.id == V.model_id)
    statement = (
        statement.where(V.model_id == model_id) if model_id is not None else statement.where(V.project == project)
    )
    if filters.q:
        pattern = like(filters.q)
        statement = statement.where(or_(M.name.ilike(pattern, escape="\\"), V.description.ilike(pattern, escape="\\")))
    if filters.tags:
        statement = statement.where(tags_match(V.tags, filters.tags, dialect_of(session)))
    if filters.stage is not None:
        statement = statement.where(V.stage == filters.stage)
    if filters.framework is not None:
        statement = statement.where(V.framework == filters.framework)
    if filters.source_run_id is not None:
        statement = statement.where(V.source_run_id == filters.source_run_id)
    if filters.updated_since is not None:
        statement = statement.where(V.updated_at >= filters.updated_since)
    rows = (await session.execute(order.apply(statement, cursor, limit))).all()
    return page_of([(row[0], row[1]) for row in rows], limit, order, lambda r: _sort_values(r[0], order))


def _sort_values(row: object, order: SortOrder) -> list[Any]:
    return [getattr(row, key) for key in order.keys]


async def version_by_number(
    session: AsyncSession, model_id: uuid.UUID, number: int, *, for_update: bool = False
) -> CatalogueModelVersion | None:
    statement = select(V).where(V.model_id == model_id, V.version == number)
    if for_update:
        await lock_for_update(session)
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(statement)).first()


async def version_by_id(session: AsyncSession, version_id: uuid.UUID) -> CatalogueModelVersion:
    """A version that must exist (a foreign key points at it)."""
    return await session.get_one(V, version_id)


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


async def lock_current_production(session: AsyncSession, model_id: uuid.UUID) -> CatalogueModelVersion | None:
    """The model's production version (at most one), locked until commit (`FOR UPDATE`)."""
    return (
        await session.scalars(
            select(V)
            .where(V.model_id == model_id, V.stage == "production")
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
