"""The catalogue's public facade: other modules (lineage) decode catalogue events through `catalogue.api`,
so every event the catalogue publishes must be exported there."""

from __future__ import annotations

import inspect

from mlplatform.kernel.events import DomainEvent
from mlplatform.modules.catalogue import api, events


def test_every_published_event_class_is_exported_by_the_api() -> None:
    declared = {
        name
        for name, value in vars(events).items()
        if inspect.isclass(value)
        and issubclass(value, DomainEvent)
        and value.__module__ == events.__name__
        and not name.startswith("_")
    }
    assert declared == {event.__name__ for event in events.ALL_EVENTS}
    for name in declared:
        assert name in api.__all__
        assert getattr(api, name) is getattr(events, name)
