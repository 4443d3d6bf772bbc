"""Domain events → graph updates: one mapping table, by event type string.

Each handler takes the `GraphWriter` of the delivery's transaction and an `EventView` of the stored
event; an event missing what its handler needs is skipped (logged by the subscriber), never failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mlplatform.modules.lineage.mapping import catalogue, experiments, features, jobs
from mlplatform.modules.lineage.mapping.payload import EventView
from mlplatform.modules.lineage.repositories.graph_writer import GraphWriter

GraphHandler = Callable[[GraphWriter, EventView], Awaitable[None]]

GRAPH_HANDLERS: dict[str, GraphHandler] = {
    **catalogue.HANDLERS,
    **experiments.HANDLERS,
    **features.HANDLERS,
    **jobs.HANDLERS,
}
