"""Statements shared by the catalogue's repositories: dialect-aware inserts, optimistic-lock flushes,
tag containment, and the project purge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, cast, delete, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from mlplatform.kernel.errors import PlatformError
from mlplatform.modules.catalogue.models import (
    CatalogueDeployment,
    CatalogueModel,
    CatalogueModelVersion,
    CatalogueTransitionRequest,
)


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_ignoring_duplicates(session: AsyncSession, table: Any, values: dict[str, Any], keys: list[str]) -> Insert:
    """`INSERT ... ON CONFLICT (keys) DO NOTHING` on PostgreSQL and SQLite: a concurrent duplicate
    is skipped instead of aborting the caller's transaction (no savepoint needed)."""
    if dialect_of(session) == "postgresql":
        return postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    return sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)


async def flush_or_fail(session: AsyncSession, failure: PlatformError) -> None:
    """Flush pending updates. Rows with a `revision` are updated `WHERE revision = <the one read>`;
    if another transaction changed one in between, nothing is written and `failure` is raised."""
    try:
        await session.flush()
    except StaleDataError as exc:
        raise failure from exc


def like(text: str) -> str:
    """`%text%` with LIKE's wildcards escaped (use with `escape="\\\\"`)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def tags_match(column: Any, tags: dict[str, str], dialect: str) -> ColumnElement[bool]:
    """All `tags` present with these values. PostgreSQL: one `@>` containment served by the GIN
    index (jsonb_path_ops) however many tags are asked for; SQLite: one JSON lookup per tag."""
    if dialect == "postgresql":
        return column.op("@>")(cast(tags, JSONB))
    return and_(*(func.json_extract(column, f'$."{key}"') == value for key, value in tags.items()))


PURGED_TABLES: Mapping[str, Any] = {
    "deployments": CatalogueDeployment,
    "transition_requests": CatalogueTransitionRequest,
    "versions": CatalogueModelVersion,
    "models": CatalogueModel,
}
"""The tables that carry the project, in deletion order; the other tables cascade from them."""


async def delete_project_rows(session: AsyncSession, project: str) -> dict[str, int]:
    """Delete every row of `project` in the tables that carry it; rows removed per table."""
    removed: dict[str, int] = {}
    for name, table in PURGED_TABLES.items():
        result = await session.execute(delete(table).where(table.project == project))
        removed[name] = int(getattr(result, "rowcount", 0) or 0)
    return removed
