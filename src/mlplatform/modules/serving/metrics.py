"""Per-deployment prediction metrics in `/metrics` (Prometheus), labelled by deployment and version."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PREDICTIONS = Counter(
    "mlplatform_serving_predictions_total",
    "Prediction requests answered by managed deployments, by outcome (ok, bad_input, model_error, unavailable)",
    ["project", "model", "deployment", "version", "outcome"],
)
ROWS = Counter(
    "mlplatform_serving_rows_total",
    "Rows predicted by managed deployments",
    ["project", "model", "deployment", "version"],
)
LATENCY = Histogram(
    "mlplatform_serving_latency_seconds",
    "Time to answer a prediction (feature join and model), in seconds",
    ["project", "model", "deployment", "version"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
SHADOW_DROPPED = Counter(
    "mlplatform_serving_shadow_dropped_total",
    "Copies of predictions not sent to a shadow deployment because too many were in flight",
    ["project", "model", "deployment"],
)
