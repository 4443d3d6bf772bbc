"""All SQL of the experiments module (its one table; MLflow's data is reached through MLflow's stores)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.modules.experiments.models import RunLinkRow


async def links_of_run(session: AsyncSession, project: str, run_id: str) -> Sequence[RunLinkRow]:
    rows = await session.scalars(
        select(RunLinkRow)
        .where(RunLinkRow.project == project, RunLinkRow.run_id == run_id)
        .order_by(RunLinkRow.created_at, RunLinkRow.id)
    )
    return rows.all()


async def find_link(session: AsyncSession, project: str, run_id: str, model: str, version: int) -> RunLinkRow | None:
    found: RunLinkRow | None = await session.scalar(
        select(RunLinkRow).where(
            RunLinkRow.project == project,
            RunLinkRow.run_id == run_id,
            RunLinkRow.model == model,
            RunLinkRow.version == version,
        )
    )
    return found


async def get_link(session: AsyncSession, project: str, run_id: str, link_id: uuid.UUID) -> RunLinkRow | None:
    found: RunLinkRow | None = await session.scalar(
        select(RunLinkRow).where(RunLinkRow.id == link_id, RunLinkRow.project == project, RunLinkRow.run_id == run_id)
    )
    return found


async def insert_link(session: AsyncSession, row: RunLinkRow) -> bool:
    """Insert in a savepoint; False when the same link exists already (a concurrent request won)."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def delete_link(session: AsyncSession, row: RunLinkRow) -> None:
    await session.delete(row)
    await session.flush()
