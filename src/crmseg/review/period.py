"""Review periods: a span of whole days, and the calendar or fiscal quarters a review defaults to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["Period", "parse_quarter", "previous_quarter", "quarter_containing"]

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")


@dataclass(frozen=True, slots=True)
class Period:
    """The days ``start`` to ``end``, both included (a deal closed on ``end`` is in the period)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"a period cannot end ({self.end}) before it starts ({self.start})")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    @property
    def days(self) -> int:
        """How many days the period holds."""
        return (self.end - self.start).days + 1

    def preceding(self) -> Period:
        """The period of the same length that ends the day before this one starts."""
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end)

    def to_json(self) -> dict[str, str]:
        """``{"start", "end"}`` as ISO dates."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def _add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month (``day`` is a first)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def quarter_containing(day: date, fiscal_year_start_month: int = 1) -> Period:
    """The quarter holding ``day``, quarters starting on the fiscal year's first month (1 = January)."""
    if not 1 <= fiscal_year_start_month <= 12:
        raise ValueError(f"fiscal_year_start_month must be 1 to 12, not {fiscal_year_start_month}")
    shift = (day.month - fiscal_year_start_month) % 3
    start = _add_months(date(day.year, day.month, 1), -shift)
    return Period(start, _add_months(start, 3) - timedelta(days=1))


def previous_quarter(quarter: Period) -> Period:
    """The quarter before a quarter (quarters differ in length, so not :meth:`Period.preceding`)."""
    start = _add_months(quarter.start, -3)
    return Period(start, quarter.start - timedelta(days=1))


def parse_quarter(text: str, fiscal_year_start_month: int = 1) -> Period:
    """``2026Q3`` (or ``2026-Q3``): the third quarter of fiscal year 2026.

    A fiscal year is named by the calendar year it *ends* in, as most companies name it: with
    ``fiscal_year_start_month = 2``, FY2026 runs February 2025 – January 2026, and 2026Q1 is
    February – April 2025. With the default (January) the quarters are calendar quarters."""
    m = _QUARTER.match(text)
    if m is None:
        raise ValueError(f"period {text!r} is not a quarter like 2026Q3")
    if not 1 <= fiscal_year_start_month <= 12:
        raise ValueError(f"fiscal_year_start_month must be 1 to 12, not {fiscal_year_start_month}")
    year, q = int(m.group(1)), int(m.group(2))
    first_year = year if fiscal_year_start_month == 1 else year - 1
    start = _add_months(date(first_year, fiscal_year_start_month, 1), 3 * (q - 1))
    return Period(start, _add_months(start, 3) - timedelta(days=1))
