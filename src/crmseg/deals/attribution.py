"""Which label each deal counts for: the one its account held when the deal was made (pure).

Neither CRM keeps a history of an account's segment, so crmseg's own record is the source:
per account and dimension, the **first label it recorded** (and when) and the **transitions**
it logged since (``from -> to`` at a time), as the state keeps them. Passed in as plain data —
this module reads no state.

The label an account held at a time ``t`` is the label of the last recording at or before
``t`` — the first label at its time, then each transition's ``to`` at its time, in time order
(transitions sharing a time in the order given; a first label before the transitions of its
own instant). A label holds from the instant it was recorded on. That gives each deal:

- ``as_of``: the label held at the attribution time;
- ``backfilled``: the deal is older than the account's history, so it gets the earliest
  recorded label (the first label; without one, the ``from`` of the earliest transition) —
  counted, so no one mistakes today's segment for last year's;
- ``current``: the latest recorded label (``mode="current"``; with ``mode="closed"``, a deal
  that is open or has no close date; every deal of ``attribute_current``);
- ``no_account``: the deal has no account; ``unknown_account``: crmseg recorded no label for
  its account in this dimension (an account it never saw). Both keep their deal, with no
  label: never dropped silently.

Attribution times: ``created`` (default) the deal's ``created_at``; ``closed`` the start
(00:00 UTC) of its ``closed_at`` day — the label the account held when the closing day
began, so a tag move the close itself caused that day (a won deal making a customer) does
not count; ``current`` none.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Final, Literal, Protocol, get_args

from crmseg.dates import parse_iso
from crmseg.deals.model import Deal

__all__ = [
    "ATTRIBUTE_MODES",
    "BASES",
    "AttributeMode",
    "AttributedDeal",
    "Attribution",
    "Basis",
    "FirstLabel",
    "LabelAt",
    "LabelMove",
    "RecordedLabel",
    "RecordedMove",
    "TagHistory",
    "attribute",
    "attribute_current",
]

AttributeMode = Literal["created", "closed", "current"]
ATTRIBUTE_MODES: Final[tuple[AttributeMode, ...]] = get_args(AttributeMode)
Basis = Literal["as_of", "backfilled", "current", "no_account", "unknown_account"]
BASES: Final[tuple[Basis, ...]] = get_args(Basis)

Stamp = str | datetime  # the state keeps ISO 8601 text; naive means UTC


class RecordedLabel(Protocol):
    """The first label crmseg recorded for an account in a dimension, and when."""

    @property
    def account(self) -> str: ...
    @property
    def dimension(self) -> str: ...
    @property
    def value(self) -> str | None: ...
    @property
    def at(self) -> Stamp: ...


class RecordedMove(Protocol):
    """One logged transition (the state's ``Transition`` has these fields)."""

    @property
    def account(self) -> str: ...
    @property
    def dimension(self) -> str: ...
    @property
    def from_value(self) -> str | None: ...
    @property
    def to_value(self) -> str | None: ...
    @property
    def at(self) -> Stamp: ...


@dataclass(frozen=True, slots=True)
class FirstLabel:
    """A :class:`RecordedLabel` as plain data."""

    account: str
    dimension: str
    value: str | None
    at: Stamp


@dataclass(frozen=True, slots=True)
class LabelMove:
    """A :class:`RecordedMove` as plain data."""

    account: str
    dimension: str
    from_value: str | None
    to_value: str | None
    at: Stamp


@dataclass(frozen=True, slots=True)
class LabelAt:
    """An account's label at a time: ``as_of``, or ``backfilled`` (before its history), or ``current``."""

    label: str | None
    basis: Basis


def _when(at: Stamp) -> datetime:
    if isinstance(at, str):
        return parse_iso(at)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@dataclass(slots=True)
class _Timeline:
    before: str | None  # the earliest recorded label: what a deal older than the history gets
    times: list[datetime]  # ascending
    labels: list[str | None]  # labels[i] holds from times[i] on


class TagHistory:
    """Every account's recorded labels over time, per dimension, built once from plain data."""

    def __init__(self, first: Iterable[RecordedLabel] = (), moves: Iterable[RecordedMove] = ()) -> None:
        """``first``: at most one first label per (account, dimension); ``moves``: the transitions,
        in the order they were logged (any time order)."""
        stamps: dict[Stamp, datetime] = {}  # a run records its moves at one time: parse each once

        def when(at: Stamp) -> datetime:
            found = stamps.get(at)
            if found is None:
                found = stamps[at] = _when(at)
            return found

        firsts: dict[tuple[str, str], tuple[datetime, str | None]] = {}
        for f in first:
            key = (f.account, f.dimension)
            if key in firsts:
                raise ValueError(f"two first labels for account {f.account!r} in {f.dimension!r}")
            firsts[key] = (when(f.at), f.value)
        logged: defaultdict[tuple[str, str], list[tuple[datetime, str | None, str | None]]] = defaultdict(list)
        for m in moves:
            logged[(m.account, m.dimension)].append((when(m.at), m.from_value, m.to_value))
        self._by_dimension: defaultdict[str, dict[str, _Timeline]] = defaultdict(dict)
        for key in firsts.keys() | logged.keys():
            start = firsts.get(key)
            seen = logged.get(key, [])
            steps = [start] if start is not None else []
            steps += [(at, to) for at, _, to in seen]
            if len(steps) > 1:
                steps.sort(key=lambda step: step[0])  # stable: the first label, then the moves as logged
            before = start[1] if start is not None else min(seen, key=lambda m: m[0])[1]
            line = _Timeline(before, [t for t, _ in steps], [v for _, v in steps])
            self._by_dimension[key[1]][key[0]] = line

    def knows(self, account: str, dimension: str) -> bool:
        """Whether a label was ever recorded for ``account`` in ``dimension``."""
        return account in self._by_dimension.get(dimension, {})

    def label_at(self, account: str, dimension: str, at: datetime) -> LabelAt | None:
        """The label ``account`` held in ``dimension`` at ``at`` (None: nothing recorded)."""
        line = self._by_dimension.get(dimension, {}).get(account)
        if line is None:
            return None
        i = bisect_right(line.times, _when(at))
        if i == 0:
            return LabelAt(line.before, "backfilled")
        return LabelAt(line.labels[i - 1], "as_of")

    def labels_at(self, dimension: str, at: datetime) -> dict[str, str | None]:
        """Every account's label in ``dimension`` at ``at``, for the accounts whose history had
        begun by then (``as_of``; an account holds nothing yet before its history)."""
        when = _when(at)
        out: dict[str, str | None] = {}
        for account, line in self._by_dimension.get(dimension, {}).items():
            i = bisect_right(line.times, when)
            if i:
                out[account] = line.labels[i - 1]
        return out

    def current(self, account: str, dimension: str) -> LabelAt | None:
        """The latest recorded label (None: nothing recorded)."""
        line = self._by_dimension.get(dimension, {}).get(account)
        return None if line is None else LabelAt(line.labels[-1], "current")


@dataclass(frozen=True, slots=True)
class AttributedDeal:
    """A deal with the label it counts for and why (``label`` None for an unknown or no account)."""

    deal: Deal
    label: str | None
    basis: Basis


@dataclass(frozen=True, slots=True)
class Attribution:
    """Every deal given, in order, attributed in one dimension, with the count per basis."""

    dimension: str
    mode: AttributeMode
    deals: tuple[AttributedDeal, ...]

    @property
    def counts(self) -> dict[Basis, int]:
        """How many deals per basis (every basis listed, zeros included)."""
        n = Counter(d.basis for d in self.deals)
        return {b: n[b] for b in BASES}

    @property
    def attributed(self) -> tuple[AttributedDeal, ...]:
        """The deals that have an account with a recorded label."""
        return tuple(d for d in self.deals if d.basis not in ("no_account", "unknown_account"))


def _when_attributed(deal: Deal, mode: AttributeMode) -> datetime | None:
    """The time a deal's label is read at (None: the current label)."""
    if mode == "created":
        return deal.created_at
    if mode == "closed" and deal.closed and deal.closed_at is not None:
        return datetime.combine(deal.closed_at, time(0), tzinfo=UTC)
    return None


def attribute(
    deals: Iterable[Deal], history: TagHistory, dimension: str, mode: AttributeMode = "created"
) -> Attribution:
    """Each deal with the label its account held in ``dimension`` (see the module's docstring)."""
    if mode not in ATTRIBUTE_MODES:
        raise ValueError(f"attribution mode {mode!r} is not one of {', '.join(ATTRIBUTE_MODES)}")
    out: list[AttributedDeal] = []
    lines = history._by_dimension.get(dimension, {})  # label_at/current inlined: this runs once per deal
    for deal in deals:
        account = deal.account_id
        if not account:
            out.append(AttributedDeal(deal, None, "no_account"))
            continue
        line = lines.get(account)
        if line is None:
            out.append(AttributedDeal(deal, None, "unknown_account"))
            continue
        at = deal.created_at if mode == "created" else _when_attributed(deal, mode)
        if at is None:
            out.append(AttributedDeal(deal, line.labels[-1], "current"))
            continue
        i = bisect_right(line.times, at)  # created_at is aware UTC (Deal), closing days are made so
        if i == 0:
            out.append(AttributedDeal(deal, line.before, "backfilled"))
        else:
            out.append(AttributedDeal(deal, line.labels[i - 1], "as_of"))
    return Attribution(dimension, mode, tuple(out))


def attribute_current(deals: Iterable[Deal], labels: Mapping[str, str | None], dimension: str) -> Attribution:
    """Each deal with its account's label from ``labels`` (account -> label: a current evaluation,
    when there is no recorded history, e.g. ``--source``/``--deals`` files): every attributed deal's
    basis is ``current``."""
    out: list[AttributedDeal] = []
    for deal in deals:
        account = deal.account_id
        if not account:
            out.append(AttributedDeal(deal, None, "no_account"))
        elif account not in labels:
            out.append(AttributedDeal(deal, None, "unknown_account"))
        else:
            out.append(AttributedDeal(deal, labels[account], "current"))
    return Attribution(dimension, "current", tuple(out))
