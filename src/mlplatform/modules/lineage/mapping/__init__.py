"""Domain events → graph updates: one mapping table, by event type.

Each handler takes the `GraphWriter` of the delivery's transaction and the event decoded with its
publisher's class (`events.Delivered`); an event missing what its handler needs is skipped, never failed.
"""

from __future__ import annotations

from mlplatform.modules.lineage.mapping import catalogue, experiments, features, jobs
from mlplatform.modules.lineage.mapping.events import GraphHandler

GRAPH_HANDLERS: dict[str, GraphHandler] = {
    **catalogue.HANDLERS,
    **experiments.HANDLERS,
    **features.HANDLERS,
    **jobs.HANDLERS,
}
