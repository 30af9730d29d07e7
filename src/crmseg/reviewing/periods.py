"""Which period a review covers and which it is compared with, from the command's options."""

from __future__ import annotations

from datetime import date

from crmseg.review.period import Period, parse_quarter, previous_quarter, quarter_containing

__all__ = ["choose_periods"]


def choose_periods(
    today: date,
    *,
    period: str | None = None,
    since: date | None = None,
    until: date | None = None,
    compare: str | None = None,
    fiscal_year_start_month: int = 1,
) -> tuple[Period, Period | None]:
    """The period and the compared one (ValueError naming the option when one does not read).

    - ``period`` (``2026Q3``): that fiscal quarter, compared with the quarter before;
    - ``since``/``until``: those days (``until`` defaults to yesterday), compared with the span
      of the same length just before;
    - neither: the last full quarter before ``today``, compared with the quarter before it.

    ``compare``: a quarter instead of the default one, or ``none`` for no comparison."""
    fy = fiscal_year_start_month
    if period is not None and (since is not None or until is not None):
        raise ValueError("give --period or --since/--until, not both")
    if period is not None:
        try:
            current = parse_quarter(period, fy)
        except ValueError as exc:
            raise ValueError(f"--period: {exc}") from None
        before = previous_quarter(current)
    elif since is not None or until is not None:
        if since is None:
            raise ValueError("--until needs --since (the period's first day)")
        end = until if until is not None else date.fromordinal(today.toordinal() - 1)
        try:
            current = Period(since, end)
        except ValueError as exc:
            raise ValueError(f"--since/--until: {exc}") from None
        before = current.preceding()
    else:
        current = previous_quarter(quarter_containing(today, fy))
        before = previous_quarter(current)
    if compare is None:
        return current, before
    if compare.strip().lower() == "none":
        return current, None
    try:
        return current, parse_quarter(compare, fy)
    except ValueError as exc:
        raise ValueError(f"--compare: {exc} (or 'none')") from None
