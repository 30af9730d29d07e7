"""Deals and the label history as columns (crmseg.deals.table, crmseg.deals.timelines) against the
row-by-row definition (crmseg.deals.attribution: ``TagHistory`` and ``attribute``): on random
histories — first labels or none, moves logged out of time order, several at one instant, a
move before the first label's time, None labels, accounts known in one dimension only — and
random deals, every mode gives each deal the same label and basis, and the labels held at a
time are the same."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from crmseg.deals import Deal, FirstLabel, LabelMove, TagHistory, attribute, attribute_current
from crmseg.deals.attribution import BASES
from crmseg.deals.table import AccountIndex, DealTable, micros, stamp_micros
from crmseg.deals.timelines import AttributedTable, RecordedRows, attribute_table, current_table, timelines
from crmseg.state.store import iso

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DIMS = ("segment", "tier")
LABELS = ["SMB", "Mid-Market", "Enterprise", None]


def _stamp(rng: random.Random, day: float) -> str | datetime:
    """A time as the state stores it, as other ISO text, or as a datetime (aware or naive)."""
    at = T0 + timedelta(days=day)
    form = rng.randrange(4)
    if form == 0:
        return iso(at)
    if form == 1:
        return at.astimezone(UTC).isoformat()
    return at if form == 2 else at.replace(tzinfo=None)


def _history(rng: random.Random, accounts: int) -> tuple[list[FirstLabel], list[LabelMove]]:
    first: list[FirstLabel] = []
    moves: list[LabelMove] = []
    runs = sorted(rng.sample(range(0, 400, 5), 6))  # runs record at a few instants: ties are common
    for a in range(accounts):
        for dim in DIMS:
            if rng.random() < 0.08:
                continue  # this account is unknown in this dimension
            has_first = rng.random() < 0.7
            start = rng.choice(runs) + (rng.random() if rng.random() < 0.3 else 0)
            if has_first:
                first.append(FirstLabel(f"a{a}", dim, rng.choice(LABELS), _stamp(rng, start)))
            for _ in range(rng.randrange(0 if has_first else 1, 5)):
                day = rng.choice(runs) if rng.random() < 0.7 else start + rng.uniform(-30, 300)
                moves.append(LabelMove(f"a{a}", dim, rng.choice(LABELS), rng.choice(LABELS), _stamp(rng, day)))
    rng.shuffle(moves)  # logged in any time order; the order logged still breaks ties
    return first, moves


def _chunks(rng: random.Random, first: list[FirstLabel], moves: list[LabelMove]) -> list[RecordedRows]:
    """The history as the state may give it: in chunks, the transitions in any order (each with its
    place in the log), the first labels as tags or as first-evaluation transitions."""
    rows = RecordedRows.of(first, moves).moves
    shuffled = rng.sample(list(rows), len(rows))
    out = [RecordedRows(moves=shuffled[i : i + 7]) for i in range(0, len(shuffled), 7)]
    return rng.sample(out, len(out))


def _deals(rng: random.Random, n: int, accounts: int) -> list[Deal]:
    out = []
    for i in range(n):
        created = T0 + timedelta(days=rng.uniform(-60, 450))
        if rng.random() < 0.1:  # on an instant a run recorded at
            created = T0 + timedelta(days=rng.choice(range(0, 400, 5)))
        status = rng.choice(["open", "won", "lost"])
        closed = (created + timedelta(days=rng.randint(0, 120))).date() if rng.random() < 0.9 else None
        account = rng.choice([None, "", f"a{rng.randrange(accounts + 3)}"]) if rng.random() < 0.1 else None
        account = account if account is not None or rng.random() < 0.1 else f"a{rng.randrange(accounts)}"
        out.append(
            Deal(id=f"d{i}", created_at=created, status=status, account_id=account, closed_at=closed)  # type: ignore[arg-type]  # one of the three
        )
    return out


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("mode", ["created", "closed", "current"])
def test_columnar_attribution_equals_the_row_by_row_one(seed: int, mode: str) -> None:
    rng = random.Random(seed)
    n_accounts = rng.choice([1, 8, 40, 40])
    first, moves = _history(rng, n_accounts)
    deals = _deals(rng, rng.choice([0, 1, 50, 400]), n_accounts)
    history = TagHistory(first, moves)
    index = AccountIndex()
    table = DealTable.of(deals, index)
    lines = timelines(_chunks(rng, first, moves), index, DIMS)
    for dim in DIMS:
        want = attribute(deals, history, dim, mode)  # type: ignore[arg-type]  # one of the modes
        got = attribute_table(table, lines[dim], mode)  # type: ignore[arg-type]  # one of the modes
        assert got.labels() == [d.label for d in want.deals]
        assert [BASES[b] for b in got.basis.tolist()] == [d.basis for d in want.deals]
        assert got.counts == want.counts
        converted = AttributedTable.of(want, table)
        assert converted.labels() == got.labels() and converted.deals is table


@pytest.mark.parametrize("seed", range(8))
def test_labels_at_a_time_equal_the_tag_history(seed: int) -> None:
    rng = random.Random(100 + seed)
    first, moves = _history(rng, 30)
    history = TagHistory(first, moves)
    index = AccountIndex()
    lines = timelines(_chunks(rng, first, moves), index)
    ids = index.ids
    for day in (-10, 0, 5, 7.5, 100, 395, 1000):
        at = T0 + timedelta(days=day)
        for dim in DIMS:
            line = lines[dim]
            names = [*line.names, None]
            got = line.labels_at(at, len(index))
            held = {ids[a]: names[c] for a, c in enumerate(got.tolist()) if c >= 0}
            want = {k: v for k, v in history.labels_at(dim, at).items() if v is not None}
            assert held == want
            backfilled = line.labels_at(at, len(index), backfill=True)
            for a, account in enumerate(ids):
                found = history.label_at(account, dim, at)
                assert names[backfilled[a]] == (found.label if found is not None else None)


def test_the_history_starts_at_its_earliest_step() -> None:
    index = AccountIndex()
    first = [FirstLabel("a", "s", "X", T0 + timedelta(days=3))]
    moves = [LabelMove("b", "s", "Y", "Z", T0 + timedelta(days=1))]
    lines = timelines([RecordedRows.of(first, moves)], index, ["s", "empty"])
    assert lines["s"].start == micros(T0 + timedelta(days=1))
    assert lines["empty"].start is None and not lines["empty"].knows(np.array([0, 1, -1])).any()


def test_two_first_labels_are_refused_as_the_tag_history_does() -> None:
    first = [FirstLabel("a", "s", "X", T0), FirstLabel("a", "s", "Y", T0)]
    with pytest.raises(ValueError, match="two first labels for account 'a' in 's'"):
        timelines([RecordedRows.of(first)], AccountIndex())


def test_current_table_equals_attribute_current() -> None:
    rng = random.Random(7)
    deals = _deals(rng, 300, 20)
    labels = {f"a{i}": rng.choice(LABELS) for i in range(0, 20, 2)}
    index = AccountIndex(labels)
    want = attribute_current(deals, labels, "segment")
    got = current_table(DealTable.of(deals, index), labels, "segment")
    assert got.labels() == [d.label for d in want.deals]
    assert got.counts == want.counts


@pytest.mark.parametrize("seed", range(4))
def test_a_table_from_stored_rows_equals_one_from_deals(seed: int) -> None:
    rng = random.Random(seed)
    deals = [
        Deal(
            id=f"d{i}",
            created_at=datetime(1969, 12, 31, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, 3e8)),
            status=rng.choice(["open", "won", "lost"]),  # type: ignore[arg-type]  # one of the three
            account_id=rng.choice([None, "a1", "a2", "b"]),
            amount=rng.choice([None, 0.0, 12.5, rng.random() * 1e6]),
            currency=rng.choice([None, "USD", "EUR"]),
            closed_at=rng.choice([None, date(2026, 1, rng.randint(1, 31))]),
        )
        for i in range(200)
    ]
    rows = [
        (d.account_id, d.status, d.amount, iso(d.created_at) if i % 3 else d.created_at.isoformat(),
         d.closed_at.isoformat() if d.closed_at else None, d.currency)
        for i, d in enumerate(deals)
    ]  # fmt: skip
    want = DealTable.of(deals)
    got = DealTable.from_rows([rows[:70], [], rows[70:]])
    for name in ("account", "created", "created_day", "closed", "status"):
        assert getattr(got, name).tolist() == getattr(want, name).tolist(), name
    assert np.array_equal(got.amount, want.amount, equal_nan=True)
    assert got.accounts.ids == want.accounts.ids and got.currencies == {"USD", "EUR"}
    assert got.created_day.tolist() == [d.created_at.date().toordinal() for d in deals]
    assert len(DealTable.from_rows([])) == 0
    with pytest.raises(ValueError, match="status 'pending'"):
        DealTable.from_rows([[("a", "pending", None, iso(T0), None, None)]])


def test_stored_stamps_read_as_parse_iso_reads_them() -> None:
    rng = random.Random(3)
    times = [T0 + timedelta(microseconds=rng.randrange(-(10**15), 10**15)) for _ in range(500)]
    stored = [iso(t) for t in times]
    assert stamp_micros(stored).tolist() == [micros(t) for t in times]  # the numpy path
    mixed = [*stored[:10], "2026-01-02", "2026-01-02T03:04:05+02:00"]
    assert stamp_micros(mixed).tolist() == [
        *(micros(t) for t in times[:10]),
        micros(datetime(2026, 1, 2, tzinfo=UTC)),
        micros(datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)),
    ]
