"""A log line that may be emitted at most once per interval; the occurrences in between are counted.

During an outage every request fails the same way: one line per request (thousands per second under a
client's retries) says nothing the first one did not, and costs the CPU the recovery needs.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class Throttle:
    """`ready()` is True at most once per `interval` seconds; `suppressed` counts the refusals since."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = float("-inf")
        self._suppressed = 0
        self._lock = threading.Lock()

    def ready(self) -> dict[str, Any] | None:
        """None: stay quiet. Else the fields to add to the line (`suppressed`: how many were not logged)."""
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.interval:
                self._suppressed += 1
                return None
            self._last = now
            suppressed, self._suppressed = self._suppressed, 0
        return {"suppressed": suppressed} if suppressed else {}
