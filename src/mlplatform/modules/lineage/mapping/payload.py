"""Reading other modules' event payloads defensively.

The lineage module never imports another module's event classes: it reads `StoredEvent.payload`
(a JSON dict) by field name, so an optional field that is missing, renamed or of an unexpected type
yields `None` instead of a failed delivery. Required fields (without which the event says nothing
useful) are checked by the mapping functions, which then skip the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlplatform.kernel.events import StoredEvent


class EventView:
    """Typed accessors over one stored event's payload."""

    def __init__(self, stored: StoredEvent) -> None:
        self.stored = stored
        self.payload: Mapping[str, Any] = stored.payload if isinstance(stored.payload, Mapping) else {}

    @property
    def event_type(self) -> str:
        return self.stored.event_type

    @property
    def project(self) -> str | None:
        return self.stored.project or self.text("project")

    @property
    def occurred_at(self) -> datetime:
        at = self.stored.occurred_at
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)

    def text(self, *names: str) -> str | None:
        """The first of `names` holding a non-empty string (numbers are turned into strings)."""
        for name in names:
            value = self.payload.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
        return None

    def integer(self, name: str) -> int | None:
        value = self.payload.get(name)
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        return None

    def number(self, name: str) -> float | None:
        value = self.payload.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None

    def flag(self, name: str) -> bool | None:
        value = self.payload.get(name)
        return value if isinstance(value, bool) else None

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.payload.get(name)
        return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}

    def items(self, name: str) -> list[Any]:
        value = self.payload.get(name)
        return list(value) if isinstance(value, list | tuple) else []

    def strings(self, *names: str) -> list[str]:
        """Names from the first field present: a list of strings, a list of `{"name": ...}` objects,
        or a comma-separated string."""
        for name in names:
            value = self.payload.get(name)
            if value is None:
                continue
            return names_in(value)
        return []

    def time(self, *names: str) -> datetime | None:
        for name in names:
            parsed = parse_time(self.payload.get(name))
            if parsed is not None:
                return parsed
        return None


def names_in(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, str):
        found = [part.strip() for part in value.split(",")]
    elif isinstance(value, list | tuple):
        for item in value:
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
