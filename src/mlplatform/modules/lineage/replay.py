"""Re-sending stored OpenLineage events to an endpoint (a new Marquez, or the old one after an outage).

Events go out oldest first, exactly as stored (same runIds, so a Marquez that already has some of them
merges rather than duplicates). Stored statuses are left alone: replaying to another Marquez says
nothing about the configured one. The first failure (after the transport's own immediate retries)
stops the replay, so it can be resumed with `--since` or `--after-id`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio

from mlplatform.kernel.db import Database
from mlplatform.modules.lineage.openlineage.emitter import build_transport, send
from mlplatform.modules.lineage.repositories.events import stored_after
from mlplatform.settings import LineageSettings

PAGE = 500


@dataclass
class ReplayResult:
    sent: int = 0
    failed_id: int | None = None
    error: str | None = None
    last_id: int | None = None


async def _stored(
    database: Database, *, since: datetime | None, after_id: int | None, project: str | None, statuses: list[str] | None
) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    last = after_id or 0
    while True:
        async with database.sessionmaker() as session:
            rows = await stored_after(session, last, since=since, project=project, statuses=statuses, limit=PAGE)
        for row in rows:
            yield row.id, row.body
        if len(rows) < PAGE:
            return
        last = rows[-1].id


async def replay(
    database: Database,
    url: str,
    *,
    since: datetime | None = None,
    after_id: int | None = None,
    project: str | None = None,
    statuses: list[str] | None = None,
    settings: LineageSettings | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    transport = build_transport(url, settings or LineageSettings())
    result = ReplayResult()
    try:
        async for row_id, body in _stored(database, since=since, after_id=after_id, project=project, statuses=statuses):
            try:
                await anyio.to_thread.run_sync(send, transport, body)
            except Exception as exc:
                result.failed_id = row_id
                result.error = f"{type(exc).__name__}: {exc}"[:500]
                return result
            result.sent += 1
            result.last_id = row_id
            if progress is not None:
                progress(result.sent)
    finally:
        transport.close()
    return result
