"""The recorded label history as columns, and attribution over it (pure, numpy).

The same definition as :mod:`crmseg.deals.attribution` (``TagHistory`` and ``attribute``: read
that module's docstring for what a deal's label is), computed over arrays instead of one
object per deal and per transition. That module stays the reference; the differential test
``tests/test_deals_columns.py`` checks the two agree on random histories.

One dimension's history is a :class:`Timeline`: every recording (each transition's ``to``;
the recorded tag of an account that never moved) as a *step* with the account's number (an
:class:`~crmseg.deals.table.AccountIndex` shared with the deals), its time and its label,
sorted by account, then time, then the order logged (a first label given as an object before
the transitions of its own instant, as ``TagHistory`` has it). The label an account held at
``t`` is that of its last step at or before ``t``: for a whole column of deals that is one
``numpy.searchsorted`` over (account, time) keys. Times are ranked among the distinct step times
first, so a key is ``account × (ranks + 1) + rank`` in an int64, exact for any number of
accounts and times a state can hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, NamedTuple

import numpy as np

from crmseg.deals.attribution import (
    ATTRIBUTE_MODES,
    BASES,
    AttributeMode,
    Attribution,
    Basis,
    RecordedLabel,
    RecordedMove,
)
from crmseg.deals.table import DAY_US, EPOCH_DAY, OPEN, AccountIndex, DealTable, columns_of, micros, stamp_micros

__all__ = [
    "NO_LABEL",
    "AttributedTable",
    "MoveRow",
    "RecordedRows",
    "TagRow",
    "Timeline",
    "attribute_table",
    "current_table",
    "timelines",
]

NO_LABEL: Final = -1  # a label code: no label (a recorded None, or no label held)
BASIS_CODE: Final[dict[Basis, int]] = {b: i for i, b in enumerate(BASES)}
AS_OF, BACKFILLED, CURRENT, NO_ACCOUNT, UNKNOWN = (BASIS_CODE[b] for b in BASES)
_NOTHING = -2  # per account: no step (never recorded in this dimension)


#: A logged transition as the state keeps it: account, dimension, from, to, time (ISO text or a
#: datetime), whether it was logged at the account's first evaluation of the dimension, and its
#: place in the log (a number that grows with the order logged: the state's row id).
MoveRow = tuple[str, str, str | None, str | None, str | datetime, bool, int]
#: A recorded tag (the current value): account, dimension, value, time it was recorded.
TagRow = tuple[str, str, str | None, str | datetime]


class RecordedRows(NamedTuple):
    """A chunk of a recorded history, as :meth:`crmseg.state.store.StateStore.label_rows` reads it:
    transitions (each with its place in the log; in any order, across chunks too) and recorded
    tags.

    The first label of an account in a dimension is read from them as the state's
    ``label_history`` reads it (``crmseg.state.deals``): its earliest transition logged at the
    first evaluation, else — when no transition was logged for it at all — its recorded tag;
    otherwise none, and its history starts at its earliest transition."""

    moves: Sequence[MoveRow] = ()
    tags: Sequence[TagRow] = ()

    @classmethod
    def of(cls, first: Iterable[RecordedLabel] = (), moves: Iterable[RecordedMove] = ()) -> RecordedRows:
        """First labels and transitions given as objects (``TagHistory``'s inputs): each first label
        as a first-evaluation transition logged before every other one, so it holds from its time
        on, before the moves of its own instant, and is the account's earliest label.
        ValueError for two first labels of one account in one dimension."""
        seen: set[tuple[str, str]] = set()
        rows: list[MoveRow] = []
        for f in first:
            if (f.account, f.dimension) in seen:
                raise ValueError(f"two first labels for account {f.account!r} in {f.dimension!r}")
            seen.add((f.account, f.dimension))
            rows.append((f.account, f.dimension, None, f.value, f.at, True, len(rows)))
        rows += [
            (m.account, m.dimension, m.from_value, m.to_value, m.at, False, len(rows) + i) for i, m in enumerate(moves)
        ]
        return cls(rows, ())


class _Names:
    """Labels numbered in the order first seen; None is :data:`NO_LABEL`."""

    def __init__(self) -> None:
        self._codes: dict[str | None, int] = {None: NO_LABEL}  # (one entry ahead of the numbered ones)

    @property
    def names(self) -> list[str]:
        """The labels by code."""
        return [x for x in self._codes if x is not None]

    def of(self, labels: Iterable[str | None]) -> list[int]:
        """Each label's code."""
        codes = self._codes
        number = codes.setdefault
        return [number(x, len(codes) - 1) for x in labels]


@dataclass(frozen=True, slots=True, eq=False)
class Timeline:
    """One dimension's recorded labels (see the module's docstring). Per step: ``account``,
    ``time`` (microseconds), ``label`` (a code of ``names``; :data:`NO_LABEL` for None). Per
    account number: ``first``/``last`` its first and last step (-2: none recorded) and
    ``earliest`` the label a deal older than its history gets."""

    dimension: str
    account: np.ndarray
    time: np.ndarray
    label: np.ndarray
    names: tuple[str, ...]
    first: np.ndarray
    last: np.ndarray
    earliest: np.ndarray
    _ranks: np.ndarray  # the distinct step times, ascending
    _keys: np.ndarray  # per step: account × (len(_ranks) + 1) + rank of its time + 1, ascending

    @property
    def start(self) -> int | None:
        """The earliest recorded time (microseconds); None for an empty history."""
        return int(self._ranks[0]) if len(self._ranks) else None

    def knows(self, accounts: np.ndarray) -> np.ndarray:
        """Per account number: whether any label was recorded for it (-1, no account: False)."""
        inside = (accounts >= 0) & (accounts < len(self.first))
        out = np.zeros(len(accounts), dtype=bool)
        out[inside] = self.first[accounts[inside]] >= 0
        return out

    def steps_at(self, accounts: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Per (known) account and time: the index of its last step at or before the time, or -1
        when its history starts after it."""
        stride = len(self._ranks) + 1
        rank = np.searchsorted(self._ranks, at, side="right")  # steps whose time <= at, per time
        i = np.searchsorted(self._keys, accounts.astype(np.int64) * stride + rank, side="right") - 1
        return np.where(i >= self.first[accounts], i, -1)

    def labels_at(self, at: datetime, n: int, *, backfill: bool = False) -> np.ndarray:
        """Each account's label code at ``at``, for account numbers 0 … ``n`` − 1: :data:`NO_LABEL`
        for an account whose history starts after ``at`` (with ``backfill``, its earliest label
        instead) or that has none."""
        out = np.full(n, NO_LABEL, dtype=np.int32)
        accounts = np.flatnonzero(self.first[: min(n, len(self.first))] >= 0)
        if not len(accounts):
            return out
        i = self.steps_at(accounts, np.full(len(accounts), micros(at), dtype=np.int64))
        held = i >= 0
        out[accounts[held]] = self.label[i[held]]
        if backfill:
            out[accounts[~held]] = self.earliest[accounts[~held]]
        return out


def timelines(
    chunks: Iterable[RecordedRows], accounts: AccountIndex, dimensions: Iterable[str] | None = None
) -> dict[str, Timeline]:
    """Each dimension's :class:`Timeline` from a recorded history read a chunk at a time (only codes
    are kept of each chunk): those of ``dimensions`` (a dimension with nothing recorded has an
    empty one; others are left out), or of every dimension recorded. Accounts are numbered in
    ``accounts``."""
    dims: dict[str, int] = {d: i for i, d in enumerate(dict.fromkeys(dimensions))} if dimensions is not None else {}
    open_set = dimensions is None
    labels, stamps = _Names(), _Stamps()
    moves: list[tuple[np.ndarray, ...]] = []
    tags: list[tuple[np.ndarray, ...]] = []

    def dim_codes(names: Sequence[str]) -> np.ndarray:
        for d in dict.fromkeys(names):
            if d not in dims:
                dims[d] = len(dims) if open_set else -1  # (-1: a dimension not asked for, left out)
        return np.array([dims[d] for d in names], dtype=np.int32)

    for chunk in chunks:
        if chunk.moves:
            account, dim, frm, to, at, first_eval, seq = columns_of(chunk.moves, 7)
            moves.append((
                dim_codes(dim), np.array(accounts.codes(account), dtype=np.int32), stamps.micros(at),
                np.array(labels.of(to), dtype=np.int32), np.array(labels.of(frm), dtype=np.int32),
                np.array(first_eval, dtype=bool), np.array(seq, dtype=np.int64),
            ))  # fmt: skip
        if chunk.tags:
            account, dim, value, at = columns_of(chunk.tags, 4)
            tags.append((
                dim_codes(dim), np.array(accounts.codes(account), dtype=np.int32), stamps.micros(at),
                np.array(labels.of(value), dtype=np.int32),
            ))  # fmt: skip
    m = _joined(moves, (np.int32, np.int32, np.int64, np.int32, np.int32, bool, np.int64))
    logged = np.argsort(m[-1], kind="stable")  # the moves in the order logged
    m = tuple(c[logged] for c in m[:-1])
    t = _joined(tags, (np.int32, np.int32, np.int64, np.int32))
    all_names = labels.names
    out: dict[str, Timeline] = {}
    for name, code in dims.items():
        if code < 0:
            continue
        mine, recorded = m[0] == code, t[0] == code
        out[name] = _timeline(
            name, len(accounts), tuple(c[mine] for c in m[1:]), tuple(c[recorded] for c in t[1:]), all_names
        )
    return out


def _joined(parts: list[tuple[np.ndarray, ...]], types: tuple[type, ...]) -> tuple[np.ndarray, ...]:
    if not parts:
        return tuple(np.zeros(0, dtype=t) for t in types)
    return tuple(np.concatenate(c) for c in zip(*parts, strict=True))


class _Stamps:
    """Stamps to microseconds; a run records its moves at one time, so each distinct stamp is read
    once."""

    def __init__(self) -> None:
        self.seen: dict[str | datetime, int] = {}

    def micros(self, stamps: Sequence[str | datetime]) -> np.ndarray:
        seen = self.seen
        new = [s for s in dict.fromkeys(stamps) if s not in seen]
        texts = [s for s in new if isinstance(s, str)]
        if texts:
            seen.update(zip(texts, stamp_micros(texts).tolist(), strict=True))
        seen.update((s, micros(s)) for s in new if isinstance(s, datetime))
        return np.fromiter((seen[s] for s in stamps), dtype=np.int64, count=len(stamps))


def _timeline(
    dim: str,
    n: int,
    moves: tuple[np.ndarray, ...],
    tags: tuple[np.ndarray, ...],
    all_names: Sequence[str],
) -> Timeline:
    """One dimension's timeline from its transitions (account, time, to, from, first evaluation; in
    the order logged) and recorded tags (account, time, value)."""
    ma, mt, mto, mfrom, first_eval = moves
    ta, tt, tv = tags
    # first labels: an account's first first-evaluation move; else, with no move, its recorded tag
    flagged = np.flatnonzero(first_eval)
    fa, at_first = np.unique(ma[flagged], return_index=True)
    fl = mto[flagged[at_first]]
    silent = ~np.isin(ta, ma)
    ta, tt, tv = ta[silent], tt[silent], tv[silent]
    account = np.concatenate([ta, ma])  # a tag is a step too: the label held from its time on
    time = np.concatenate([tt, mt])
    label = np.concatenate([tv, mto])
    before = np.concatenate([tv, mfrom])  # the label before a step: a move's from
    # by account, then time, then the order logged (a recorded tag's account has no move)
    order = np.lexsort((np.arange(len(account)), time, account))
    account, time, label, before = account[order], time[order], label[order], before[order]
    used = np.unique(np.concatenate([label, before]))
    used = used[used >= 0]
    renumber = np.full(len(all_names) + 1, NO_LABEL, dtype=np.int32)  # the last entry: NO_LABEL stays
    renumber[used] = np.arange(len(used), dtype=np.int32)
    label, before, fl, tv = renumber[label], renumber[before], renumber[fl], renumber[tv]
    first_step = np.full(n, _NOTHING, dtype=np.int64)
    last_step = np.full(n, _NOTHING, dtype=np.int64)
    present, starts, sizes = np.unique(account, return_index=True, return_counts=True)
    first_step[present] = starts
    last_step[present] = starts + sizes - 1
    earliest = np.full(n, NO_LABEL, dtype=np.int32)
    earliest[present] = before[starts]  # no first label: the earliest move's from
    earliest[fa] = fl  # a first label is the earliest label, whenever it was recorded
    earliest[ta] = tv
    ranks = np.unique(time)
    keys = account.astype(np.int64) * (len(ranks) + 1) + np.searchsorted(ranks, time, side="left") + 1
    names = tuple(all_names[u] for u in used.tolist())
    return Timeline(dim, account, time, label, names, first_step, last_step, earliest, ranks, keys)


@dataclass(frozen=True, slots=True, eq=False)
class AttributedTable:
    """Every deal of ``deals`` attributed in one dimension, as columns: ``label`` a code of
    ``names`` (:data:`NO_LABEL`: none) and ``basis`` a code of :data:`~crmseg.deals.attribution.BASES`."""

    dimension: str
    mode: AttributeMode
    deals: DealTable
    label: np.ndarray
    names: tuple[str, ...]
    basis: np.ndarray

    @property
    def counts(self) -> dict[Basis, int]:
        """How many deals per basis (every basis listed, zeros included)."""
        n = np.bincount(self.basis, minlength=len(BASES))
        return {b: int(n[i]) for i, b in enumerate(BASES)}

    def labels(self) -> list[str | None]:
        """Each deal's label (None: no label), in the deals' order."""
        names: list[str | None] = [*self.names, None]  # NO_LABEL (-1) indexes the None
        return [names[c] for c in self.label.tolist()]

    @classmethod
    def of(cls, attribution: Attribution, table: DealTable | None = None) -> AttributedTable:
        """The columns of an attribution made deal by deal; ``table``: its deals' table, when built."""
        deals = [d.deal for d in attribution.deals]
        if table is None or table.deals is None or not _same(table.deals, deals):
            table = DealTable.of(deals)
        names = _Names()
        label = np.array(names.of(d.label for d in attribution.deals), dtype=np.int32)
        basis = np.fromiter((BASIS_CODE[d.basis] for d in attribution.deals), dtype=np.int8, count=len(deals))
        return cls(attribution.dimension, attribution.mode, table, label, tuple(names.names), basis)


def _same(a: Sequence[object], b: Sequence[object]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def attribute_table(deals: DealTable, line: Timeline, mode: AttributeMode = "created") -> AttributedTable:
    """Each deal with the label its account held in ``line``'s dimension: what
    :func:`crmseg.deals.attribution.attribute` gives, as columns. ``deals`` and ``line`` number
    accounts with the same index."""
    if mode not in ATTRIBUTE_MODES:
        raise ValueError(f"attribution mode {mode!r} is not one of {', '.join(ATTRIBUTE_MODES)}")
    account = deals.account
    known = line.knows(account)
    label = np.full(len(deals), NO_LABEL, dtype=np.int32)
    basis = np.where(account < 0, NO_ACCOUNT, UNKNOWN).astype(np.int8)
    if mode == "created":
        timed, at = known, deals.created
    else:
        closed = (deals.status != OPEN) & (deals.closed != 0)
        timed = known & closed if mode == "closed" else np.zeros(len(deals), dtype=bool)
        at = (deals.closed.astype(np.int64) - EPOCH_DAY) * DAY_US  # 00:00 UTC of the closing day
    now = known & ~timed
    label[now] = line.label[line.last[account[now]]]
    basis[now] = CURRENT
    rows = np.flatnonzero(timed)
    i = line.steps_at(account[rows], at[rows])
    held = i >= 0
    label[rows[held]] = line.label[i[held]]
    basis[rows[held]] = AS_OF
    older = rows[~held]
    label[older] = line.earliest[account[older]]
    basis[older] = BACKFILLED
    return AttributedTable(line.dimension, mode, deals, label, line.names, basis)


def current_table(deals: DealTable, labels: Mapping[str, str | None], dimension: str) -> AttributedTable:
    """Each deal with its account's label from ``labels`` (a current evaluation, when there is no
    history): :func:`crmseg.deals.attribution.attribute_current` as columns."""
    names = _Names()
    n = len(deals.accounts)
    held = np.full(n + 1, _NOTHING, dtype=np.int32)  # the extra last entry: no account (-1)
    for account, label in labels.items():
        a = deals.accounts.find(account)
        if a >= 0:
            held[a] = names.of((label,))[0]
    per_deal = held[deals.account]
    basis = np.where(deals.account < 0, NO_ACCOUNT, np.where(per_deal == _NOTHING, UNKNOWN, CURRENT)).astype(np.int8)
    codes = np.where(per_deal == _NOTHING, NO_LABEL, per_deal).astype(np.int32)
    return AttributedTable(dimension, "current", deals, codes, tuple(names.names), basis)
