"""Readiness checks: the kernel registers database, redis and object store; modules add their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec


@dataclass(frozen=True)
class HealthCheck:
    """`probe` returns normally when the component works and raises when it does not.

    A `required` component being down makes the platform not ready (503); an optional one only
    shows as degraded.
    """

    name: str
    probe: Callable[[], Awaitable[None]]
    required: bool = True
    timeout_seconds: float = 3.0


class ComponentStatus(msgspec.Struct, kw_only=True):
    status: str
    required: bool
    latency_ms: float
    error: str | None = None


class Readiness(msgspec.Struct, kw_only=True):
    status: str
    components: dict[str, ComponentStatus]


@dataclass
class HealthRegistry:
    checks: list[HealthCheck] = field(default_factory=list)

    def add(self, check: HealthCheck) -> None:
        if any(existing.name == check.name for existing in self.checks):
            raise ValueError(f"health check {check.name!r} registered twice")
        self.checks.append(check)

    async def readiness(self) -> Readiness:
        results = await asyncio.gather(*(self._run(check) for check in self.checks))
        components = dict(zip((c.name for c in self.checks), results, strict=True))
        required_down = any(c.status == "down" and c.required for c in components.values())
        any_down = any(c.status == "down" for c in components.values())
        status = "down" if required_down else "degraded" if any_down else "up"
        return Readiness(status=status, components=components)

    async def _run(self, check: HealthCheck) -> ComponentStatus:
        started = time.perf_counter()
        error: str | None = None
        try:
            await asyncio.wait_for(check.probe(), timeout=check.timeout_seconds)
        except TimeoutError:
            error = f"no answer within {check.timeout_seconds:g}s"
        except Exception as exc:
            error = _describe(exc)
        latency = round((time.perf_counter() - started) * 1000, 2)
        return ComponentStatus(
            status="down" if error else "up", required=check.required, latency_ms=latency, error=error
        )


def _describe(exc: Exception) -> str:
    text: Any = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]
