"""The pieces that keep an MLflow outage short and quiet: restart backoff and the throttled warning."""

from __future__ import annotations

from mlplatform.modules.experiments.hosting.log_throttle import Throttle
from mlplatform.modules.experiments.hosting.worker import RestartBackoff


def test_restarts_are_immediate_after_a_death_then_back_off_to_a_bound() -> None:
    backoff = RestartBackoff(first=1.0, maximum=30.0)
    assert backoff.delay() == 0.0
    delays = []
    for _ in range(8):
        backoff.failed()
        delays.append(backoff.delay())
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    backoff.reset()
    assert backoff.delay() == 0.0


def test_a_throttled_line_goes_out_once_per_interval_with_the_count_it_stands_for() -> None:
    throttle = Throttle(interval=3600.0)
    assert throttle.ready() == {}
    assert [throttle.ready() for _ in range(500)] == [None] * 500
    throttle._last -= 3600.0  # the interval has passed
    assert throttle.ready() == {"suppressed": 500}
    assert throttle.ready() is None
