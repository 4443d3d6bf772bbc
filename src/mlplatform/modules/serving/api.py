"""The serving module's public facade: what other modules (the coming console, webhooks and drift monitors)
may import.

- `MONITORING_METRICS`: the metric names the serving module writes as the catalogue's monitoring records
  (per deployment and replica, every `serving.monitoring_seconds`), for rules such as
  `serving.latency_p99_ms gt 50`.
"""

from __future__ import annotations

from mlplatform.modules.serving.monitoring import MONITORING_METRICS

__all__ = ["MONITORING_METRICS"]
