"""Job functions by kind: modules register theirs at start-up; workers look them up by name."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlplatform.kernel.jobs.context import JobContext

JobFunction = Callable[["JobContext"], Awaitable[dict[str, Any] | None]]
"""`async def fn(ctx: JobContext) -> dict | None`: the returned dict becomes the job's `result`."""

_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True)
class JobDefinition:
    """How one kind of job runs.

    `max_attempts` counts every start, including restarts after a worker died; a job function that
    raises a `PlatformError` (a deterministic failure such as invalid input) is never retried.
    """

    kind: str
    function: JobFunction
    max_attempts: int = 3
    timeout_seconds: int = 3600
    heartbeat_seconds: int = 15
    description: str = ""


class JobRegistry:
    """Kind -> definition. Built per app instance (never at import time) so tests and workers
    see exactly the modules they host."""

    def __init__(self) -> None:
        self._definitions: dict[str, JobDefinition] = {}

    def register(self, definition: JobDefinition) -> None:
        if not _KIND.match(definition.kind):
            raise ValueError(f"job kind {definition.kind!r} must look like 'module.verb'")
        existing = self._definitions.get(definition.kind)
        if existing is not None and existing.function is not definition.function:
            raise ValueError(f"job kind {definition.kind!r} registered twice")
        if definition.max_attempts < 1 or definition.timeout_seconds < 1 or definition.heartbeat_seconds < 1:
            raise ValueError("max_attempts, timeout_seconds and heartbeat_seconds must be positive")
        self._definitions[definition.kind] = definition

    def get(self, kind: str) -> JobDefinition | None:
        return self._definitions.get(kind)

    def __contains__(self, kind: object) -> bool:
        return kind in self._definitions

    def __iter__(self) -> Iterator[JobDefinition]:
        return iter(self._definitions.values())

    def kinds(self) -> list[str]:
        return sorted(self._definitions)
