"""Per-deployment prediction statistics over a window, written as the catalogue's monitoring records.

Each replica counts what it answered (requests, rows, errors by kind, latencies: a bounded reservoir) and,
every `serving.monitoring_seconds`, writes one record per metric for every deployment it served in that
window. The catalogue evaluates them against the deployment's rules, so an alert such as
`serving.latency_p99_ms gt 50` fires as for records posted over HTTP. Values are per replica.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field

import structlog

from mlplatform.kernel.background import PollingLoop
from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.catalogue.api import record_monitoring

log = structlog.get_logger("mlplatform.serving")

RESERVOIR = 4096
"""Latencies kept per deployment and window (a uniform sample beyond that)."""
ACTOR = "service:serving"
MONITORING_METRICS = (
    "serving.requests",
    "serving.requests_per_second",
    "serving.rows",
    "serving.errors",
    "serving.error_rate",
    "serving.latency_p50_ms",
    "serving.latency_p99_ms",
)


@dataclass
class Window:
    """One deployment's answers since the last flush."""

    project: str
    started: float = field(default_factory=time.monotonic)
    requests: int = 0
    rows: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def observe(self, seconds: float, outcome: str, rows: int) -> None:
        self.requests += 1
        self.rows += rows
        if outcome != "ok":
            self.errors[outcome] = self.errors.get(outcome, 0) + 1
        if len(self.latencies) < RESERVOIR:
            self.latencies.append(seconds)
        else:
            slot = random.randrange(self.requests)
            if slot < RESERVOIR:
                self.latencies[slot] = seconds

    def values(self, now: float) -> dict[str, float]:
        elapsed = max(now - self.started, 1e-9)
        errors = sum(self.errors.values())
        values = {
            "serving.requests": float(self.requests),
            "serving.requests_per_second": self.requests / elapsed,
            "serving.rows": float(self.rows),
            "serving.errors": float(errors),
            "serving.error_rate": errors / self.requests if self.requests else 0.0,
        }
        if self.latencies:
            ordered = sorted(self.latencies)
            values["serving.latency_p50_ms"] = _quantile(ordered, 0.5) * 1000
            values["serving.latency_p99_ms"] = _quantile(ordered, 0.99) * 1000
        return values


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Monitor:
    """The windows of this replica's deployments and the loop that writes them to the catalogue."""

    def __init__(self, platform: PlatformContext) -> None:
        self.platform = platform
        self.windows: dict[uuid.UUID, Window] = {}
        interval = platform.settings.serving.monitoring_seconds
        self.loop = PollingLoop(
            "serving-monitoring", self.flush, interval=interval, failure_event="serving_monitoring_failed"
        )

    def observe(self, project: str, deployment_id: uuid.UUID, seconds: float, outcome: str, rows: int) -> None:
        window = self.windows.get(deployment_id)
        if window is None:
            window = self.windows[deployment_id] = Window(project)
        window.observe(seconds, outcome, rows)

    async def flush(self) -> None:
        """Write every window with answers in it and start new ones (a window that fails to write is dropped:
        monitoring records are a sample, never worth holding requests' memory)."""
        windows, self.windows = self.windows, {}
        now = time.monotonic()
        for deployment_id, window in windows.items():
            if not window.requests:
                continue
            try:
                async with self.platform.database.transaction() as session:
                    await record_monitoring(
                        session,
                        project=window.project,
                        deployment_id=deployment_id,
                        values=window.values(now),
                        window_seconds=max(1, round(now - window.started)),
                        actor=ACTOR,
                    )
            except Exception as exc:  # a retired or deleted deployment, a database hiccup: the next window counts
                log.warning("serving_monitoring_dropped", deployment=str(deployment_id), error=str(exc))
