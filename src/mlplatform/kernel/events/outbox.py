"""Writing events into the caller's transaction."""

from __future__ import annotations

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.events.model import DomainEvent, OutboxEvent
from mlplatform.kernel.request_ids import current_actor, current_request_id


async def publish(session: AsyncSession, event: DomainEvent) -> OutboxEvent:
    """Add `event` to the outbox inside the session's transaction; delivered only if it commits."""
    row = OutboxEvent(
        event_type=event.event_type,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        project=event.project,
        actor=current_actor.get(),
        request_id=current_request_id.get(),
        payload=msgspec.to_builtins(event),
    )
    session.add(row)
    await session.flush()
    session.info["outbox_written"] = True
    return row
