"""Deals and account labels as columns (pure): what the per-label tallies read, built once and
reused for every period and dimension of a review.

A review tallies the same deals for its period, the compared one and each quarter of the
trend, in every dimension; row by row that is one Python pass over every deal per period and
dimension. Here the deals are a :class:`~crmseg.deals.table.DealTable` (read straight into
columns from the state, or built from ``Deal`` objects), a dimension's labels an array of
codes (:class:`LabelFrame`), and a period's tally a few array masks. :func:`tally` gives
exactly what the row-by-row definition gives (``docs/review.md``; the differential test in
``tests/test_review_frame.py`` checks it): sums are sequential, in the deals' order, as adding
them one by one does. :class:`AccountLabels` holds each account's label at one time, the same
way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from crmseg.deals import AttributedDeal, Attribution
from crmseg.deals.table import LOST, OPEN, WON, AccountIndex, DealTable
from crmseg.deals.timelines import NO_LABEL, AttributedTable
from crmseg.review.period import Period

__all__ = ["AccountLabels", "DealColumns", "LabelFrame", "Samples", "TallyCounts", "tally"]


@dataclass(slots=True)
class TallyCounts:
    """Deals a tally left out, and why (for the review's warnings)."""

    no_close_date: int = 0
    negative_cycle: int = 0
    won_no_amount: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class DealColumns:
    """A deal table and ``counted``: each amount as the sums count it (``amount or 0.0``)."""

    table: DealTable
    counted: np.ndarray

    @classmethod
    def of(cls, table: DealTable) -> DealColumns:
        """The columns of ``table``."""
        amount = table.amount
        return cls(table, np.where(np.isnan(amount) | (amount == 0.0), 0.0, amount))

    def same_deals(self, deals: Sequence[AttributedDeal]) -> bool:
        """Whether ``deals`` are this table's deals, in this order (the same objects)."""
        own = self.table.deals
        return own is not None and len(deals) == len(own) and all(a.deal is b for a, b in zip(deals, own, strict=True))


def _renumbered(code: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes renumbered so the labels come in the order they first occur (labels no deal holds
    left out), and those labels."""
    held = code[code != NO_LABEL]
    present, first = np.unique(held, return_index=True)
    present = present[np.argsort(first, kind="stable")]
    renumber = np.full(len(names) + 1, NO_LABEL, dtype=np.int32)  # the last entry: NO_LABEL stays
    renumber[present] = np.arange(len(present), dtype=np.int32)
    return renumber[code], tuple(names[i] for i in present.tolist())


def _mapped(names: Sequence[str], to: Callable[[str], str | None]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each label's code among the labels ``to`` maps them to (in the order of ``names``), and those."""
    out: dict[str, int] = {}
    codes = [NO_LABEL if (m := to(name)) is None else out.setdefault(m, len(out)) for name in names]
    return np.array([*codes, NO_LABEL], dtype=np.int32), tuple(out)  # the last entry: NO_LABEL stays


@dataclass(frozen=True, slots=True, eq=False)
class LabelFrame:
    """One dimension's deals: the columns, each deal's label code (:data:`NO_LABEL`: none) and
    attribution basis (a code of ``crmseg.deals.attribution.BASES``); ``names`` the labels by
    code, in the order they first occur among the deals."""

    columns: DealColumns
    code: np.ndarray
    names: tuple[str, ...]
    basis: np.ndarray
    grouped: np.ndarray = field(init=False, repr=False)  # the labelled deals by label, in order within one

    def __post_init__(self) -> None:
        labelled = np.flatnonzero(self.code != NO_LABEL)
        object.__setattr__(self, "grouped", labelled[np.argsort(self.code[labelled], kind="stable")])

    @classmethod
    def of_table(cls, attributed: AttributedTable, columns: DealColumns | None = None) -> LabelFrame:
        """The frame of an attribution's columns; ``columns``: its deals', when already built."""
        if columns is None or columns.table is not attributed.deals:
            columns = DealColumns.of(attributed.deals)
        code, names = _renumbered(attributed.label, attributed.names)
        return cls(columns, code, names, attributed.basis)

    @classmethod
    def of(cls, deals: Sequence[AttributedDeal], columns: DealColumns | None = None) -> LabelFrame:
        """The frame of deals attributed one by one; ``columns``: theirs, when already built."""
        table = columns.table if columns is not None and columns.same_deals(deals) else None
        return cls.of_table(AttributedTable.of(Attribution("", "created", tuple(deals)), table), columns)

    def relabel(self, to: Callable[[str], str | None]) -> LabelFrame:
        """The frame with each label replaced by ``to(label)`` (e.g. a score by its band)."""
        mapped, names = _mapped(self.names, to)
        code, names = _renumbered(mapped[self.code], names)
        return LabelFrame(self.columns, code, names, self.basis)


@dataclass(frozen=True, slots=True, eq=False)
class AccountLabels:
    """Each account's label in one dimension at one time: ``code`` per account number (of the
    deals' :class:`~crmseg.deals.table.AccountIndex`), a code of ``names``; :data:`NO_LABEL` for
    an account holding none."""

    code: np.ndarray
    names: tuple[str, ...]

    @classmethod
    def of(cls, labels: Mapping[str, str | None], accounts: AccountIndex) -> AccountLabels:
        """From account -> label (None: holds none), the accounts numbered in ``accounts``."""
        codes: dict[str, int] = {}
        pairs = [(a, v) for a, v in zip(accounts.codes(list(labels)), labels.values(), strict=True) if a >= 0]
        code = np.full(len(accounts), NO_LABEL, dtype=np.int32)
        code[[a for a, _ in pairs]] = [NO_LABEL if v is None else codes.setdefault(v, len(codes)) for _, v in pairs]
        return cls(code, tuple(codes))

    def labels(self) -> list[str | None]:
        """Each account's label by number (None: none)."""
        names: list[str | None] = [*self.names, None]  # NO_LABEL (-1) indexes the None
        return [names[c] for c in self.code.tolist()]

    def counts(self) -> dict[str, int]:
        """Accounts per label (labels no account holds left out)."""
        n = np.bincount(self.code[self.code != NO_LABEL], minlength=len(self.names))
        return {name: int(k) for name, k in zip(self.names, n.tolist(), strict=True) if k}

    def relabel(self, to: Callable[[str], str | None]) -> AccountLabels:
        """Each label replaced by ``to(label)``; two sets of labels with the same ``names`` get the same codes."""
        mapped, names = _mapped(self.names, to)
        return AccountLabels(mapped[self.code], names)

    def recoded(self, names: Sequence[str]) -> AccountLabels:
        """The same labels as codes of ``names`` (which must hold every label of these)."""
        where = {name: i for i, name in enumerate(names)}
        renumber = np.array([*(where[n] for n in self.names), NO_LABEL], dtype=np.int32)
        return AccountLabels(renumber[self.code], tuple(names))


def _per_label(frame: LabelFrame, mask: np.ndarray, values: np.ndarray) -> Iterable[tuple[int, np.ndarray]]:
    """Each label's values among the (labelled) deals of ``mask``, in the deals' order."""
    idx = frame.grouped[mask[frame.grouped]]  # by label, in the deals' order within one
    codes = frame.code[idx]
    if not len(codes):
        return
    starts = [0, *(np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist(), len(codes)]
    for i, at in enumerate(starts[:-1]):
        yield int(codes[at]), values[idx[at : starts[i + 1]]]


def _counts(frame: LabelFrame, mask: np.ndarray) -> Iterable[tuple[int, int]]:
    """Each label's count among the (labelled) deals of ``mask`` (labels with none left out)."""
    n = np.bincount(frame.code[mask], minlength=len(frame.names))
    return zip(np.flatnonzero(n).tolist(), n[n > 0].tolist(), strict=True)


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
    t = c.table
    start, end = period.start.toordinal(), period.end.toordinal()
    labelled = frame.code >= 0
    out = {name: Samples() for name in frame.names}
    names = frame.names
    open_at = labelled & (t.created_day <= end) & ((t.status == OPEN) | (t.closed > end))
    closed = labelled & (t.status != OPEN)
    counts.no_close_date += int(np.count_nonzero(closed & (t.closed == 0)))
    inside = closed & (t.closed >= start) & (t.closed <= end)
    won = inside & (t.status == WON)
    lost = inside & (t.status == LOST)
    has_amount = ~np.isnan(t.amount)
    counts.won_no_amount += int(np.count_nonzero(won & ~has_amount))
    cycle = (t.closed - t.created_day).astype(np.float64)
    counts.negative_cycle += int(np.count_nonzero(won & (cycle < 0)))
    for code, n in _counts(frame, won):
        out[names[code]].won = n
    for code, n in _counts(frame, lost):
        out[names[code]].lost = n
    for code, n in _counts(frame, open_at):
        out[names[code]].open_deals = n
    for code, values in _per_label(frame, won & has_amount, t.amount):
        out[names[code]].won_amounts = values.tolist()
    for code, values in _per_label(frame, won & (cycle >= 0), cycle):
        out[names[code]].cycles = values.tolist()
    for code, values in _per_label(frame, inside, c.counted):
        out[names[code]].closed_amount = _running_sum(values)
    for code, values in _per_label(frame, open_at, c.counted):
        out[names[code]].open_amount = _running_sum(values)
    return out
