"""Dialect-aware statements shared by the services."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.dml import Insert

from mlplatform.kernel.errors import PlatformError


def insert_ignoring_duplicates(session: AsyncSession, table: Any, values: dict[str, Any], keys: list[str]) -> Insert:
    """`INSERT ... ON CONFLICT (keys) DO NOTHING` on PostgreSQL and SQLite: a concurrent duplicate
    is skipped instead of aborting the caller's transaction (no savepoint needed)."""
    if dialect_of(session) == "postgresql":
        return postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    return sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def flush_or_fail(session: AsyncSession, failure: PlatformError) -> None:
    """Flush pending updates. Rows with a `revision` are updated `WHERE revision = <the one read>`;
    if another transaction changed one in between, nothing is written and `failure` is raised."""
    try:
        await session.flush()
    except StaleDataError as exc:
        raise failure from exc
