"""Call and write counters, thread-safe, served at ``GET /__sandbox/stats``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any


class Stats:
    """Counts API calls (per endpoint and status) and record/field writes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.total = 0
            self.by_endpoint: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()
            self.records_written = 0
            self.records_failed = 0
            self.written_fields = 0
            self.changed_fields = 0
            self.rate_limited = 0
            self.logins = 0
            self.write_calls = 0
            self.fields_written: Counter[str] = Counter()

    def call(self, endpoint: str) -> None:
        """One API call to ``endpoint``."""
        with self._lock:
            self.total += 1
            self.by_endpoint[endpoint] += 1

    def status(self, code: int) -> None:
        """The status an API call answered with."""
        with self._lock:
            self.by_status[str(code)] += 1
            if code == 429:
                self.rate_limited += 1

    def wrote(self, ok: int, failed: int, fields: int, changed: int, names: Iterable[str] = ()) -> None:
        """A write call: records ok/failed, field values written, values that changed, which fields."""
        with self._lock:
            self.fields_written.update(names)
            self.write_calls += 1
            self.records_written += ok
            self.records_failed += failed
            self.written_fields += fields
            self.changed_fields += changed

    def login(self) -> None:
        """A successful authentication."""
        with self._lock:
            self.logins += 1

    def snapshot(self) -> dict[str, Any]:
        """Counters as JSON-ready data."""
        with self._lock:
            return {
                "calls": {
                    "total": self.total,
                    "by_endpoint": dict(sorted(self.by_endpoint.items())),
                    "by_status": dict(sorted(self.by_status.items())),
                },
                "write_calls": self.write_calls,
                "records_written": self.records_written,
                "records_failed": self.records_failed,
                "written_fields": self.written_fields,
                "changed_fields": self.changed_fields,
                "fields_written": dict(sorted(self.fields_written.items())),
                "rate_limited": self.rate_limited,
                "logins": self.logins,
            }
