"""The CRMs' rate/limit headers, parsed in one place.

- Salesforce: every response carries ``Sforce-Limit-Info: api-usage=USED/MAX``
  (optionally ``;per-app-api-usage=...``); :class:`ApiUsage` keeps the latest value
  for the run summary.
- HubSpot: ``X-HubSpot-RateLimit-Remaining`` / ``-Interval-Milliseconds`` (and the
  ``-Secondly-Remaining`` variant); :class:`RateGate` waits before the next call when
  the window is spent, and throttles search calls (their own, lower limit).
- ``Retry-After`` (seconds or an HTTP date) for any CRM: :func:`parse_retry_after`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

log = logging.getLogger(__name__)
_API_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive header lookup on any mapping (requests, urllib3 or a dict)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return str(value)
    low = name.lower()
    for key, val in headers.items():
        if str(key).lower() == low:
            return str(val)
    return None


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds to wait (>= 0), from delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now())


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header as an aware UTC datetime (whole seconds), else None."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_sforce_limit_info(value: str | None) -> tuple[int, int] | None:
    """``api-usage=USED/MAX`` from ``Sforce-Limit-Info`` -> (used, max), or None."""
    if not value:
        return None
    m = _API_USAGE.search(value)
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass
class ApiUsage:
    """Salesforce org API usage, as last reported by the server; warns once past ``warn_at``."""

    used: int | None = None
    max: int | None = None
    warn_at: float = 0.9
    warned: bool = False

    def observe(self, headers: Mapping[str, str] | None) -> None:
        parsed = parse_sforce_limit_info(header(headers, "Sforce-Limit-Info"))
        if parsed:
            self.used, self.max = parsed
            frac = self.fraction
            if frac is not None and frac >= self.warn_at and not self.warned:
                self.warned = True
                log.warning(
                    "salesforce org API usage at %d of %d daily requests (%.0f%%)", self.used, self.max, 100 * frac
                )

    def as_tuple(self) -> tuple[int, int] | None:
        return (self.used, self.max) if self.used is not None and self.max is not None else None

    @property
    def fraction(self) -> float | None:
        return self.used / self.max if self.used is not None and self.max else None


def hubspot_wait_hint(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait before the next call when HubSpot says the window is spent, else None."""
    remaining = header(headers, "X-HubSpot-RateLimit-Remaining")
    interval = header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
    if remaining is not None and _int(remaining) == 0:
        ms = _int(interval)
        return (ms / 1000.0) if ms else 1.0
    secondly = header(headers, "X-HubSpot-RateLimit-Secondly-Remaining")
    if secondly is not None and _int(secondly) == 0:
        return 1.0
    return None


@dataclass
class RateGate:
    """Waits before a call when the previous answer said the rate window is spent.

    ``min_interval`` (seconds) additionally spaces calls of one kind (HubSpot search).
    """

    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    min_interval: dict[str, float] = field(default_factory=dict)
    pending_wait: float = 0.0
    waited: float = 0.0
    #: The daily allowance (``X-HubSpot-RateLimit-Daily``) and what is left of it, as last reported.
    daily_max: int | None = None
    daily_remaining: int | None = None
    _last: dict[str, float] = field(default_factory=dict)

    def observe(self, headers: Mapping[str, str] | None) -> None:
        hint = hubspot_wait_hint(headers)
        self.pending_wait = hint or 0.0
        daily, left = (
            header(headers, "X-HubSpot-RateLimit-Daily"),
            header(headers, "X-HubSpot-RateLimit-Daily-Remaining"),
        )
        if left is not None and _int(left) is not None:
            self.daily_remaining = _int(left)
            self.daily_max = _int(daily) if daily is not None else self.daily_max

    def before_call(self, kind: str = "") -> None:
        wait = self.pending_wait
        gap = self.min_interval.get(kind, 0.0)
        if gap and kind in self._last:
            wait = max(wait, self._last[kind] + gap - self.clock())
        if wait > 0:
            self.waited += wait
            self.sleep(wait)
        self.pending_wait = 0.0
        if gap:
            self._last[kind] = self.clock()


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None
