"""Other modules' domain events as lineage reads them: decoded with the publishers' own event classes (from
their `api.py`), beside the delivery's metadata.

A stored payload that does not decode as its class (a malformed or foreign event) is skipped by the
subscriber, never failed. The helpers keep the graph's conventions: text is stripped and an empty string
recorded as nothing (`text`); times are recorded as the ISO strings the payload carried (`iso`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
import structlog

from mlplatform.kernel.events import DomainEvent, StoredEvent
from mlplatform.kernel.jobs.events import JobFailed
from mlplatform.modules.catalogue import api as catalogue
from mlplatform.modules.experiments import api as experiments
from mlplatform.modules.features import api as features

if TYPE_CHECKING:
    from mlplatform.modules.lineage.repositories.graph_writer import GraphWriter

log = structlog.get_logger("mlplatform.lineage")

E = TypeVar("E", bound=DomainEvent)

EVENT_CLASSES: dict[str, type[DomainEvent]] = {
    cls.event_type: cls
    for cls in (
        catalogue.ModelCreated,
        catalogue.ModelUpdated,
        catalogue.ModelVersionCreated,
        catalogue.ModelVersionUpdated,
        catalogue.StageChanged,
        catalogue.ValidationRecorded,
        catalogue.DeploymentChanged,
        experiments.RunFinished,
        experiments.ModelVersionCreated,
        experiments.RunLinked,
        features.DataSourceApplied,
        features.FeatureViewApplied,
        features.FeatureServiceApplied,
        features.FeatureDefinitionDeleted,
        features.FeaturesMaterialized,
        features.TrainingDatasetCreated,
        features.ValidationReportCreated,
        JobFailed,
    )
}
"""The events lineage maps, by their stored `event_type`."""


@dataclass(frozen=True)
class Delivered(Generic[E]):
    """A decoded event with the outbox's record of it (id, time, aggregate, project)."""

    stored: StoredEvent
    event: E

    @property
    def project(self) -> str | None:
        return self.stored.project or text(self.event.project)

    @property
    def occurred_at(self) -> datetime:
        at = self.stored.occurred_at
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


GraphHandler = Callable[["GraphWriter", Delivered[Any]], Awaitable[None]]
"""Updates the graph for one decoded event; an event missing what it needs is skipped, never failed."""


def decode(stored: StoredEvent) -> Delivered[Any] | None:
    """The event decoded with its publisher's class; None for a type lineage does not map, or a payload that
    is not a valid event of its type."""
    cls = EVENT_CLASSES.get(stored.event_type)
    if cls is None:
        return None
    try:
        return Delivered(stored, stored.decode(cls))
    except msgspec.ValidationError as exc:
        log.warning("lineage_event_skipped", event_type=stored.event_type, event_seq=stored.seq, reason=str(exc))
        return None


def text(value: object) -> str | None:
    """A non-empty string, stripped (numbers are turned into strings); None otherwise."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def iso(value: datetime | None) -> str | None:
    """A time as its payload carried it (msgspec's ISO 8601)."""
    return None if value is None else str(msgspec.to_builtins(value))


def names_in(values: str | Iterable[Any]) -> list[str]:
    """Names from a comma-separated string, or from a list of strings or of `{"name": ...}` objects;
    stripped, without empties and repeats."""
    found: list[str] = []
    if isinstance(values, str):
        found = [part.strip() for part in values.split(",")]
    else:
        for item in values:
            if isinstance(item, str):
                found.append(item.strip())
            elif isinstance(item, Mapping):
                name = item.get("name")
                if isinstance(name, str):
                    found.append(name.strip())
    return [name for name in dict.fromkeys(found) if name]


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 string, a datetime, or epoch milliseconds (MLflow's unit) as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return None


def lookup(tags: Mapping[str, Any], params: Mapping[str, Any], key: str) -> str | None:
    """A run's tag, else its param of the same name."""
    for source in (tags, params):
        value = source.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
