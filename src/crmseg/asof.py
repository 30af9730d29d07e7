"""``--as-of DATE``: the moment ``days_since`` counts from, for reproducible audits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from crmseg.dates import parse_iso

__all__ = ["AsOf", "as_of_option", "parse_as_of"]


def parse_as_of(text: str) -> datetime:
    """``2026-11-01`` (midnight UTC) or an ISO 8601 datetime (naive = UTC); ValueError otherwise."""
    return parse_iso(text)


class AsOf(click.ParamType):
    """A click parameter holding a date or datetime, as an aware UTC datetime."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_as_of(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date like 2026-11-01 or a datetime like 2026-11-01T09:00:00Z", param, ctx)


def as_of_option(f: Any) -> Any:
    """The shared ``--as-of`` option (None: now)."""
    return click.option(
        "--as-of",
        "as_of",
        type=AsOf(),
        default=None,
        help="Evaluate as of this date (YYYY-MM-DD, midnight UTC) or datetime: days_since "
        "counts from it, so the result does not move with the calendar.",
    )(f)
