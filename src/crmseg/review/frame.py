"""Deals as columns (pure): what the per-label tallies read, built once and reused for every
period and dimension of a review.

A review tallies the same deals for its period, the compared one and each quarter of the
trend, in every dimension; row by row that is one Python pass over every deal per period and
dimension. Here a deal's fields become numpy columns once (:class:`DealColumns`), a dimension's
labels an array of codes (:class:`LabelFrame`), and a period's tally is a few array masks.
:func:`tally` gives exactly what the row-by-row definition gives (``docs/review.md``; the
differential test in ``tests/test_review_frame.py`` checks it): sums are sequential, in the
deals' order, as adding them one by one does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from crmseg.deals import AttributedDeal, Deal
from crmseg.review.period import Period

__all__ = ["DealColumns", "LabelFrame", "Samples", "TallyCounts", "tally"]

OPEN, WON, LOST = 0, 1, 2
_STATUS = {"open": OPEN, "won": WON, "lost": LOST}


@dataclass(slots=True)
class TallyCounts:
    """Deals a tally left out, and why (for the review's warnings)."""

    no_close_date: int = 0
    negative_cycle: int = 0
    won_no_amount: int = 0


@dataclass(frozen=True, slots=True)
class DealColumns:
    """Deals' fields as columns, in the deals' order: days as proleptic ordinals (``closed`` 0:
    no close date), ``amount`` NaN when missing, ``counted`` the amount as sums count it
    (``amount or 0.0``)."""

    created: np.ndarray
    closed: np.ndarray
    status: np.ndarray
    amount: np.ndarray
    counted: np.ndarray
    deals: Sequence[Deal] = field(repr=False)

    @classmethod
    def of(cls, deals: Sequence[Deal]) -> DealColumns:
        """The columns of ``deals``."""
        n = len(deals)
        created = np.fromiter((d.created_at.toordinal() for d in deals), dtype=np.int32, count=n)
        closed = np.fromiter(
            (0 if d.closed_at is None else d.closed_at.toordinal() for d in deals), dtype=np.int32, count=n
        )
        status = np.fromiter((_STATUS[d.status] for d in deals), dtype=np.int8, count=n)
        amount = np.fromiter((np.nan if d.amount is None else d.amount for d in deals), dtype=np.float64, count=n)
        counted = np.where(np.isnan(amount) | (amount == 0.0), 0.0, amount)
        return cls(created, closed, status, amount, counted, deals)

    def same_deals(self, deals: Sequence[AttributedDeal]) -> bool:
        """Whether ``deals`` are these deals, in this order (the same objects)."""
        return len(deals) == len(self.deals) and all(a.deal is b for a, b in zip(deals, self.deals, strict=True))


@dataclass(frozen=True, slots=True)
class LabelFrame:
    """One dimension's deals: the columns and each deal's label code (-1: no label); ``names``
    the labels by code, in the order they first occur."""

    columns: DealColumns
    code: np.ndarray
    names: tuple[str, ...]

    @classmethod
    def of(cls, deals: Sequence[AttributedDeal], columns: DealColumns | None = None) -> LabelFrame:
        """The frame of ``deals``; ``columns``: theirs, when already built for the same deals."""
        if columns is None or not columns.same_deals(deals):
            columns = DealColumns.of([d.deal for d in deals])
        codes: dict[str, int] = {}
        code = np.fromiter(
            (-1 if d.label is None else codes.setdefault(d.label, len(codes)) for d in deals),
            dtype=np.int32,
            count=len(deals),
        )
        return cls(columns, code, tuple(codes))


def _groups(frame: LabelFrame, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The deals of ``mask`` grouped by label code, each group in the deals' order: their
    indexes, the codes present and where each group starts."""
    idx = np.flatnonzero(mask)
    order = np.argsort(frame.code[idx], kind="stable")
    idx = idx[order]
    present, starts = np.unique(frame.code[idx], return_index=True)
    return idx, present, starts


def _per_label(frame: LabelFrame, mask: np.ndarray, values: np.ndarray) -> Iterable[tuple[int, np.ndarray]]:
    idx, present, starts = _groups(frame, mask)
    bounds = [*starts.tolist(), len(idx)]
    for i, code in enumerate(present.tolist()):
        yield code, values[idx[bounds[i] : bounds[i + 1]]]


def _running_sum(values: np.ndarray) -> float:
    """``0.0 + v0 + v1 + ...`` in order (``np.cumsum`` adds sequentially, unlike ``sum``'s pairs)."""
    return 0.0 + float(np.cumsum(values)[-1]) if len(values) else 0.0


@dataclass(slots=True)
class Samples:
    """One label's closed deals in a period (won, lost, won amounts, won cycles in days) and its
    open pipeline at the period's end: what every metric and pairwise test is computed from."""

    won: int = 0
    lost: int = 0
    won_amounts: list[float] = field(default_factory=list)
    closed_amount: float = 0.0
    cycles: list[float] = field(default_factory=list)
    open_deals: int = 0
    open_amount: float = 0.0


def tally(frame: LabelFrame, period: Period, counts: TallyCounts) -> dict[str, Samples]:
    """Each label's closed deals in ``period`` and open pipeline at its end (every label of the
    frame listed, in first-occurrence order); ``counts`` gains the deals left out."""
    c = frame.columns
    start, end = period.start.toordinal(), period.end.toordinal()
    labelled = frame.code >= 0
    out = {name: Samples() for name in frame.names}
    names = frame.names
    open_at = labelled & (c.created <= end) & ((c.status == OPEN) | (c.closed > end))
    closed = labelled & (c.status != OPEN)
    counts.no_close_date += int(np.count_nonzero(closed & (c.closed == 0)))
    inside = closed & (c.closed >= start) & (c.closed <= end)
    won = inside & (c.status == WON)
    lost = inside & (c.status == LOST)
    has_amount = ~np.isnan(c.amount)
    counts.won_no_amount += int(np.count_nonzero(won & ~has_amount))
    cycle = (c.closed - c.created).astype(np.float64)
    counts.negative_cycle += int(np.count_nonzero(won & (cycle < 0)))
    for code, n in zip(*np.unique(frame.code[won], return_counts=True), strict=True):
        out[names[code]].won = int(n)
    for code, n in zip(*np.unique(frame.code[lost], return_counts=True), strict=True):
        out[names[code]].lost = int(n)
    for code, n in zip(*np.unique(frame.code[open_at], return_counts=True), strict=True):
        out[names[code]].open_deals = int(n)
    for code, values in _per_label(frame, won & has_amount, c.amount):
        out[names[code]].won_amounts = values.tolist()
    for code, values in _per_label(frame, won & (cycle >= 0), cycle):
        out[names[code]].cycles = values.tolist()
    for code, values in _per_label(frame, inside, c.counted):
        out[names[code]].closed_amount = _running_sum(values)
    for code, values in _per_label(frame, open_at, c.counted):
        out[names[code]].open_amount = _running_sum(values)
    return out
