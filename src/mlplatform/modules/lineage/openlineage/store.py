"""Storing built RunEvents (idempotently) in `lineage_openlineage_events`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openlineage.client.event_v2 import RunEvent
from openlineage.client.serde import Serde
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import utcnow
from mlplatform.modules.lineage.mapping.events import parse_time
from mlplatform.modules.lineage.repositories.events import insert_events


def to_json(event: RunEvent) -> dict[str, Any]:
    """The event as the JSON the HTTP transport sends (nulls and empty facet maps dropped)."""
    return Serde.to_dict(event)


async def store_events(
    session: AsyncSession,
    events: Sequence[RunEvent],
    *,
    source_event_id: uuid.UUID,
    source_event_type: str,
    project: str | None,
    status: str,
    fallback_time: datetime,
) -> int:
    """Insert the events of one domain event; a redelivery of that domain event inserts nothing.
    Returns how many rows were new."""
    if not events:
        return 0
    now = utcnow()
    rows = []
    for ordinal, event in enumerate(events):
        body = to_json(event)
        rows.append(
            {
                "source_event_id": source_event_id,
                "ordinal": ordinal,
                "source_event_type": source_event_type,
                "project": project,
                "event_type": str(body.get("eventType") or "OTHER"),
                "job_namespace": body["job"]["namespace"],
                "job_name": body["job"]["name"],
                "run_id": body["run"]["runId"],
                "event_time": parse_time(body.get("eventTime")) or fallback_time,
                "body": body,
                "status": status,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    return await insert_events(session, rows)
