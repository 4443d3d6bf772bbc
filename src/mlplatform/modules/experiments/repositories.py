"""All SQL of the experiments module (its one table; MLflow's data is reached through MLflow's stores)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.events.model import OutboxEvent
from mlplatform.modules.experiments.events import ModelVersionCreated, RunFinished
from mlplatform.modules.experiments.models import ReconcileMarkRow, RunLinkRow

IN_CHUNK = 500
"""Ids per `IN (...)` list when looking events up."""


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


async def ensure_mark(session: AsyncSession, stream: str, until_ms: int) -> None:
    """Create the stream's watermark (first round: start and end at `until_ms`) unless it exists."""
    if await session.get(ReconcileMarkRow, stream) is not None:
        return
    try:
        async with session.begin_nested():
            session.add(ReconcileMarkRow(stream=stream, started_ms=until_ms, until_ms=until_ms))
            await session.flush()
    except IntegrityError:
        pass


async def lock_mark(session: AsyncSession, stream: str) -> ReconcileMarkRow | None:
    """The stream's watermark, locked for this transaction; None while another replica holds it."""
    row: ReconcileMarkRow | None = await session.scalar(
        select(ReconcileMarkRow)
        .where(ReconcileMarkRow.stream == stream)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return row


async def published_run_statuses(session: AsyncSession, run_ids: Collection[str]) -> set[tuple[str, str]]:
    """(run id, status) of every RunFinished in the outbox for these runs."""
    found: set[tuple[str, str]] = set()
    ids = list(run_ids)
    for start in range(0, len(ids), IN_CHUNK):
        rows = await session.execute(
            select(OutboxEvent.aggregate_id, OutboxEvent.payload["status"].as_string()).where(
                OutboxEvent.aggregate_type == RunFinished.aggregate_type,
                OutboxEvent.aggregate_id.in_(ids[start : start + IN_CHUNK]),
                OutboxEvent.event_type == RunFinished.event_type,
            )
        )
        found.update((run_id, status) for run_id, status in rows)
    return found


async def published_model_versions(session: AsyncSession, names: Collection[str]) -> set[tuple[str, int]]:
    """(registered model, version) of every ModelVersionCreated in the outbox for these models."""
    found: set[tuple[str, int]] = set()
    ids = list(names)
    for start in range(0, len(ids), IN_CHUNK):
        rows = await session.execute(
            select(OutboxEvent.aggregate_id, OutboxEvent.payload["version"].as_integer()).where(
                OutboxEvent.aggregate_type == ModelVersionCreated.aggregate_type,
                OutboxEvent.aggregate_id.in_(ids[start : start + IN_CHUNK]),
                OutboxEvent.event_type == ModelVersionCreated.event_type,
            )
        )
        found.update((name, int(version)) for name, version in rows)
    return found


async def delete_run_links(session: AsyncSession, project: str) -> int:
    """Remove a deleted project's run links; how many there were."""
    result = await session.execute(delete(RunLinkRow).where(RunLinkRow.project == project))
    return int(getattr(result, "rowcount", 0) or 0)
