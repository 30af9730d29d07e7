"""Sliding-window rate limiting (HubSpot's per-10-seconds and search limits)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most ``limit`` calls in any ``window`` seconds."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - self.window:
            self._calls.popleft()

    def acquire(self) -> tuple[bool, int, float]:
        """Try to take one call: (allowed, remaining, seconds until a call is free again)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._calls) >= self.limit:
                wait = self._calls[0] + self.window - now
                return False, 0, max(0.0, wait)
            self._calls.append(now)
            return True, self.limit - len(self._calls), 0.0

    def remaining(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return max(0, self.limit - len(self._calls))

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()


def retry_after_header(seconds: float) -> str:
    """Whole seconds for a Retry-After header (at least 1 when any wait remains)."""
    return str(max(0, math.ceil(seconds)))
