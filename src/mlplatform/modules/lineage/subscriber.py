"""The lineage outbox subscriber: graph first, then the OpenLineage events built from it.

Runs inside the outbox delivery's transaction (`kernel/events/dispatcher.py`): the graph writes, the
stored OpenLineage events and the delivery's "done" mark commit together, so a crash before the
commit redelivers the event and the unique keys (node type+key, edge source+target+kind, event
source+ordinal) make the second application a no-op. Nothing here talks to the network: sending to
Marquez is the emitter's job, after commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import event as orm_event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.events import StoredEvent, Subscriber
from mlplatform.modules.lineage.mapping import GRAPH_HANDLERS
from mlplatform.modules.lineage.mapping.events import decode
from mlplatform.modules.lineage.openlineage.naming import NAMESPACE_PREFIX, PostgresLocation
from mlplatform.modules.lineage.repositories.graph_writer import GraphWriter
from mlplatform.modules.lineage.runtime import LineageRuntime, openlineage_builders

log = structlog.get_logger("mlplatform.lineage")

SUBSCRIBER_NAME = "lineage.graph"


def subscribed_event_types() -> frozenset[str]:
    from mlplatform.modules.lineage.openlineage.event_types import OPENLINEAGE_EVENT_TYPES

    return frozenset(GRAPH_HANDLERS) | OPENLINEAGE_EVENT_TYPES


def postgres_location(database_url: str) -> PostgresLocation | None:
    """Host, port and database of the platform's PostgreSQL (names `postgres` data sources), or None."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        return None
    return PostgresLocation(host=url.host or "localhost", port=url.port or 5432, database=url.database or "postgres")


async def apply_event(
    session: AsyncSession,
    stored: StoredEvent,
    *,
    emit: bool,
    postgres: PostgresLocation | None = None,
    namespace: str = NAMESPACE_PREFIX,
) -> int:
    """Update the graph for one domain event and store its OpenLineage events (status `pending` when an
    endpoint is configured, `unsent` otherwise), named in the namespace prefix `namespace`. Returns how
    many OpenLineage events were new."""
    delivered = decode(stored)
    if delivered is None:
        return 0
    handler = GRAPH_HANDLERS.get(stored.event_type)
    if handler is not None:
        await handler(GraphWriter(session, event_id=stored.id, at=delivered.occurred_at), delivered)
    builder = openlineage_builders().get(stored.event_type)
    if builder is None:
        return 0
    from mlplatform.modules.lineage.openlineage.datasets import BuildContext
    from mlplatform.modules.lineage.openlineage.store import store_events

    await session.flush()
    events = await builder(BuildContext(session, postgres=postgres, prefix=namespace), delivered)
    if not events:
        return 0
    return await store_events(
        session,
        events,
        source_event_id=stored.id,
        source_event_type=stored.event_type,
        project=delivered.project,
        status="pending" if emit else "unsent",
        fallback_time=delivered.occurred_at,
    )


def lineage_subscriber(platform: PlatformContext) -> Subscriber:
    postgres = postgres_location(platform.settings.resolved_database_url)
    emit = bool(platform.settings.openlineage_url)
    namespace = platform.settings.lineage.namespace

    async def handle(session: AsyncSession, stored: StoredEvent) -> None:
        runtime = platform.runtimes.find(LineageRuntime)
        if runtime is not None:
            await runtime.prepared()
        created = await apply_event(session, stored, emit=emit, postgres=postgres, namespace=namespace)
        emitter = runtime.emitter if runtime is not None else None
        if created and emitter is not None:
            wake: Callable[[], None] = emitter.wake

            def after_commit(_session: Any) -> None:
                wake()

            orm_event.listen(session.sync_session, "after_commit", after_commit, once=True)
        log.debug("lineage_applied", event_type=stored.event_type, event_seq=stored.seq, openlineage_events=created)

    return Subscriber(name=SUBSCRIBER_NAME, handler=handle, event_types=subscribed_event_types())
