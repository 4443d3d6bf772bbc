"""A clock the test moves by hand, for product code that takes `clock: Callable[[], float]` (the code base's
one convention, defaulting to `time.monotonic`): time passes when the test says so, not while it sleeps."""

from __future__ import annotations


class FakeClock:
    """Callable like `time.monotonic`; `advance(seconds)` (or assigning `now`) moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
