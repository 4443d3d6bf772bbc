"""The per-deployment window behind the serving module's monitoring records."""

from __future__ import annotations

from mlplatform.modules.serving.monitoring import RESERVOIR, Window


def test_a_window_counts_answers_errors_and_latency_quantiles() -> None:
    window = Window("fraud", started=100.0)
    for millis in range(1, 101):
        window.observe(millis / 1000, "ok", 2)
    window.observe(0.5, "bad_input", 1)
    window.observe(0.5, "model_error", 1)
    values = window.values(now=110.0)
    assert values["serving.requests"] == 102
    assert values["serving.rows"] == 202
    assert values["serving.errors"] == 2
    assert values["serving.error_rate"] == 2 / 102
    assert values["serving.requests_per_second"] == 10.2
    assert values["serving.latency_p50_ms"] == 52.0
    assert values["serving.latency_p99_ms"] == 500.0


def test_the_latency_sample_is_bounded() -> None:
    window = Window("fraud", started=0.0)
    for _ in range(3 * RESERVOIR):
        window.observe(0.001, "ok", 1)
    assert len(window.latencies) == RESERVOIR
    assert window.values(now=1.0)["serving.requests"] == 3 * RESERVOIR


def test_an_empty_window_reports_no_latency() -> None:
    values = Window("fraud", started=0.0).values(now=1.0)
    assert values["serving.requests"] == 0
    assert values["serving.error_rate"] == 0.0
    assert "serving.latency_p99_ms" not in values
