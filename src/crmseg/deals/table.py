"""Deals as columns (pure): one numpy array per field instead of one object per deal.

A review reads every deal of a sync (500,000 at the scale it is built for) in each of its
dimensions; as ``Deal`` objects that is seconds of object building and most of the memory. A
:class:`DealTable` keeps only what attribution and the statistics read, in the deals' order:
the account (a number from an :class:`AccountIndex`, which the label history of
:mod:`crmseg.deals.timelines` shares, so a deal and its account's recorded labels meet by
number), the creation time, the close day, the status and the amount.

Times are exact integers: ``created`` in microseconds since 1970-01-01 UTC (a stored stamp has
microseconds), ``created_day`` and ``closed`` as proleptic ordinals (``date.toordinal()``;
``closed`` 0: no close date). ``amount`` is NaN where the deal has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any, Final

import numpy as np

from crmseg.dates import parse_iso
from crmseg.deals.model import Deal

__all__ = [
    "DAY_US",
    "EPOCH_DAY",
    "LOST",
    "OPEN",
    "STATUS_CODE",
    "WON",
    "AccountIndex",
    "DealRow",
    "DealTable",
    "columns_of",
    "micros",
    "stamp_micros",
]

OPEN: Final = 0
WON: Final = 1
LOST: Final = 2
STATUS_CODE: Final = {"open": OPEN, "won": WON, "lost": LOST}
EPOCH_DAY: Final = date(1970, 1, 1).toordinal()
DAY_US: Final = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_STORED_LEN = len("2026-01-01T00:00:00.000000Z")  # crmseg.state.store.iso: the form the state writes

#: One deal as the state keeps it: account, status, amount, created_at and closed_at (ISO text),
#: currency.
DealRow = tuple[str | None, str, float | None, str, str | None, str | None]


def micros(at: datetime) -> int:
    """``at`` (naive: UTC) as microseconds since 1970-01-01 UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // _US


def stamp_micros(texts: Sequence[str]) -> np.ndarray:
    """ISO 8601 stamps as microseconds since the epoch (int64), read as ``crmseg.dates.parse_iso``
    reads them. The state's own form (``2026-01-01T00:00:00.000000Z``) is parsed by numpy in one
    go; any other text one by one."""
    if all(len(s) == _STORED_LEN and s[-1] == "Z" for s in texts):
        return np.array([s[:-1] for s in texts], dtype="datetime64[us]").astype(np.int64)
    return np.fromiter((micros(parse_iso(s)) for s in texts), dtype=np.int64, count=len(texts))


class AccountIndex:
    """Account ids numbered 0, 1, … in the order first seen; no account (None or blank) is -1."""

    __slots__ = ("_codes",)

    def __init__(self, accounts: Sequence[str] = ()) -> None:
        self._codes: dict[str | None, int] = {None: -1, "": -1}  # (two entries ahead of the numbered ones)
        self.codes(accounts)

    def __len__(self) -> int:
        return len(self._codes) - 2

    @property
    def ids(self) -> list[str]:
        """The account ids by number."""
        return [a for a in self._codes if a]

    def code(self, account: str | None) -> int:
        """The number of ``account``, given one if new; -1 for no account."""
        return self.codes([account])[0]

    def codes(self, accounts: Sequence[str | None]) -> list[int]:
        """:meth:`code` of each."""
        codes = self._codes
        number = codes.setdefault  # a new account's number: the count before it (minus the two ahead)
        return [number(a, len(codes) - 2) for a in accounts]

    def find(self, account: str | None) -> int:
        """The number of ``account``; -1 when it has none (or is no account)."""
        return self._codes.get(account, -1)


@dataclass(frozen=True, slots=True, eq=False)
class DealTable:
    """Deals as columns, in the deals' order (see the module's docstring). ``deals``: the ``Deal``
    objects, when the table was built from them."""

    account: np.ndarray  # int32, a number of ``accounts``; -1: no account
    created: np.ndarray  # int64, microseconds since the epoch
    created_day: np.ndarray  # int32, ordinal
    closed: np.ndarray  # int32, ordinal; 0: no close date
    status: np.ndarray  # int8: OPEN, WON, LOST
    amount: np.ndarray  # float64; NaN: no amount
    accounts: AccountIndex
    currencies: frozenset[str] = frozenset()
    deals: Sequence[Deal] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.account)

    @classmethod
    def of(cls, deals: Sequence[Deal], accounts: AccountIndex | None = None) -> DealTable:
        """The table of ``deals`` (their accounts numbered in ``accounts``, a new index by default)."""
        index = accounts if accounts is not None else AccountIndex()
        n = len(deals)
        created = np.fromiter((micros(d.created_at) for d in deals), dtype=np.int64, count=n)
        return cls(
            np.array(index.codes([d.account_id for d in deals]), dtype=np.int32),
            created,
            _day(created),
            np.fromiter((0 if d.closed_at is None else d.closed_at.toordinal() for d in deals), np.int32, count=n),
            np.fromiter((STATUS_CODE[d.status] for d in deals), dtype=np.int8, count=n),
            np.fromiter((np.nan if d.amount is None else d.amount for d in deals), dtype=np.float64, count=n),
            index,
            frozenset(d.currency for d in deals if d.currency),
            deals,
        )

    @classmethod
    def from_rows(cls, chunks: Iterable[Sequence[DealRow]], accounts: AccountIndex | None = None) -> DealTable:
        """The table of stored deals (:data:`DealRow`), read a chunk at a time so only one chunk's
        rows are held at once. ValueError for a status that is not open, won or lost."""
        index = accounts if accounts is not None else AccountIndex()
        parts: list[tuple[np.ndarray, ...]] = []
        currencies: set[str] = set()
        for rows in chunks:
            if not rows:
                continue
            account, status, amount, created, closed, currency = columns_of(rows, 6)
            try:
                codes = list(map(STATUS_CODE.__getitem__, status))
            except KeyError as exc:
                raise ValueError(f"deal status {exc.args[0]!r} is not one of open, won, lost") from None
            days = np.array(closed, dtype="datetime64[D]")  # None and "" are NaT
            parts.append(
                (
                    np.array(index.codes(account), dtype=np.int32),
                    stamp_micros(created),
                    np.where(np.isnat(days), 0, days.astype(np.int64) + EPOCH_DAY).astype(np.int32),
                    np.array(codes, dtype=np.int8),
                    np.array(amount, dtype=np.float64),
                )
            )
            currencies.update(c for c in currency if c)
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty.astype(np.int32), empty, empty.astype(np.int32), empty.astype(np.int32),
                       empty.astype(np.int8), empty.astype(np.float64), index)  # fmt: skip
        cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
        return cls(cols[0], cols[1], _day(cols[1]), cols[2], cols[3], cols[4], index, frozenset(currencies))


def columns_of(rows: Sequence[Sequence[Any]], n: int) -> list[list[Any]]:
    """The first ``n`` columns of ``rows`` (``map(itemgetter)``: a third of what ``zip(*rows)`` costs)."""
    return [list(map(itemgetter(i), rows)) for i in range(n)]


def _day(created: np.ndarray) -> np.ndarray:
    """The UTC day (ordinal) of each time in microseconds (floor division: right before 1970 too)."""
    return (created // DAY_US + EPOCH_DAY).astype(np.int32)
