"""Dates and datetimes from text and numbers: the one set of rules crmseg reads times with.

Every result is an *aware UTC* datetime (or a ``date``). The rules:

- **ISO 8601 text**, as ``datetime.fromisoformat`` reads it on Python 3.11+: ``T`` or a space
  between date and time, optional seconds and fractions, and a ``Z``, ``+02:00`` or
  Salesforce's ``+0000`` offset (``2026-11-01T10:00:00.000+0000``). Surrounding blanks are
  stripped.
- **A plain date** (``2026-11-01``) is midnight UTC.
- **Naive means UTC**: a text or ``datetime`` without an offset is taken as UTC; one with an
  offset is converted to UTC.
- **Epoch numbers, CRM values only** (``parse_datetime``): a number, or a text of 9+ ASCII
  digits (8 digits is the ISO date ``20261101``), is epoch seconds, or milliseconds (HubSpot)
  from 100,000,000,000 on. Typed-in values (``--as-of``, ``--since``) and stored stamps
  (watermarks, run times) are ISO text only (``parse_iso``).
- **A date from a datetime** (``parse_date``) is its UTC day.

A value that is not a time raises one of :data:`INVALID`. This module imports nothing from
crmseg: every layer may use it. HTTP ``Date`` headers (RFC 9110) are another grammar, read by
``email.utils`` in ``connectors.limits``; the sandbox keeps its own reader (``sandbox.values``)
because it stands in for the vendors' servers and must not change when crmseg's rules do.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

__all__ = ["INVALID", "parse_date", "parse_datetime", "parse_iso", "stamp_or_none", "to_date", "to_datetime"]

#: What parsing an invalid value may raise (huge epoch numbers overflow; some platforms say OSError).
INVALID = (ValueError, TypeError, OverflowError, OSError)
_MS_FROM = 100_000_000_000  # epoch values from here on are milliseconds: seconds would be past year 5000


def _utc(d: datetime) -> datetime:
    if d.tzinfo is UTC:
        return d
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def _iso_text(s: str) -> datetime:
    """Stripped, non-blank ISO 8601 text as an aware UTC datetime; ValueError otherwise."""
    if len(s) == 10 and s[4] == "-":  # the usual YYYY-MM-DD
        return datetime.combine(date.fromisoformat(s), time(0), tzinfo=UTC)
    return _utc(datetime.fromisoformat(s))


def _epoch(number: float) -> datetime:
    """Epoch seconds, or milliseconds when the number is too large for seconds."""
    return datetime.fromtimestamp(number / 1000 if abs(number) >= _MS_FROM else number, tz=UTC)


def to_datetime(value: Any) -> datetime | None:
    """A CRM value as an aware UTC datetime by the rules above; None for blank text (no value)."""
    if value.__class__ is str:
        s = value.strip()
        if not s:
            return None
        if s.isdigit() and s.isascii() and len(s) >= 9:
            return _epoch(int(s))
        return _iso_text(s)
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _epoch(value)
    raise ValueError(f"not a date: {value!r}")


def to_date(value: Any) -> date | None:
    """A CRM value as a date (a datetime's UTC day); None for blank text (no value)."""
    if value.__class__ is str and len(value) == 10 and value[4:5] == "-":
        return date.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    d = to_datetime(value)
    return None if d is None else d.date()


def parse_datetime(value: Any) -> datetime:
    """``to_datetime`` for a value that must be there: blank text is an error too."""
    out = to_datetime(value)
    if out is None:
        raise ValueError("no value")
    return out


def stamp_or_none(value: Any) -> datetime | None:
    """A CRM stamp (ISO text or epoch number) as an aware UTC datetime; None when it is absent
    or unreadable (a record's stamp that cannot be read is treated as unknown, not an error)."""
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except INVALID:
        return None


def parse_date(value: Any) -> date:
    """``to_date`` for a value that must be there: blank text is an error too."""
    out = to_date(value)
    if out is None:
        raise ValueError("no value")
    return out


def parse_iso(text: str) -> datetime:
    """ISO 8601 text (a date: midnight UTC) as an aware UTC datetime; no epoch numbers.

    For typed-in values and stored stamps; ValueError for anything else, blank text included."""
    return _iso_text(text.strip())
