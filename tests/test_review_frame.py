"""The columnar tally (``crmseg.review.frame``) against the row-by-row definition it replaced:
on random deals — open, won, lost, without amount, zero amount, without close date, closed
before created, without a label — every label's figures and the left-out counts are identical
(exact equality, sums included: both add in the deals' order)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import pytest

from crmseg.deals import AttributedDeal, Deal
from crmseg.deals.table import DealTable
from crmseg.review.frame import DealColumns, LabelFrame, Samples, TallyCounts, tally
from crmseg.review.metrics import label_samples
from crmseg.review.period import Period


def _open_at(deal: Deal, period: Period) -> bool:
    if deal.created_at.date() > period.end:
        return False
    return deal.status == "open" or (deal.closed_at is not None and deal.closed_at > period.end)


def reference(deals: Iterable[tuple[str, Deal]], period: Period, counts: TallyCounts) -> dict[str, Samples]:
    """The first, row-by-row tally (one pass per period), kept here as the definition."""
    out: defaultdict[str, Samples] = defaultdict(Samples)
    for label, deal in deals:
        t = out[label]
        if _open_at(deal, period):
            t.open_deals += 1
            t.open_amount += deal.amount or 0.0
        if not deal.closed:
            continue
        if deal.closed_at is None:
            counts.no_close_date += 1
            continue
        if deal.closed_at not in period:
            continue
        if deal.status == "won":
            t.won += 1
            if deal.amount is None:
                counts.won_no_amount += 1
            else:
                t.won_amounts.append(deal.amount)
            cycle = (deal.closed_at - deal.created_at.date()).days
            if cycle < 0:
                counts.negative_cycle += 1
            else:
                t.cycles.append(float(cycle))
        else:
            t.lost += 1
        t.closed_amount += deal.amount or 0.0
    return dict(out)


def _deals(rng: random.Random, n: int) -> list[AttributedDeal]:
    out = []
    base = datetime(2025, 10, 1, tzinfo=UTC)
    for i in range(n):
        created = base + timedelta(seconds=rng.randrange(0, 400 * 86400))
        status = rng.choice(["open", "won", "lost", "won"])
        closed = created.date() + timedelta(days=rng.randint(-5, 150))
        amount = rng.choice([None, 0.0, -0.0, round(rng.lognormvariate(8, 1.2), 2), rng.random() * 1e6])
        deal = Deal(
            id=f"d{i}",
            created_at=created,
            status=status,  # type: ignore[arg-type]  # one of the three
            account_id=f"a{i % 7}",
            amount=amount,
            closed_at=None if rng.random() < 0.05 else closed,
        )
        label = rng.choice([None, "A", "B", "C", "Tier 1"])
        out.append(AttributedDeal(deal, label, "as_of" if label else "unknown_account"))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_columnar_tally_equals_the_row_by_row_definition(seed: int) -> None:
    rng = random.Random(seed)
    deals = _deals(rng, rng.choice([0, 1, 30, 2000]))
    columns = DealColumns.of(DealTable.of([d.deal for d in deals]))
    frame = LabelFrame.of(deals, columns)
    assert frame.columns is columns
    for period in (Period(date(2026, 1, 1), date(2026, 3, 31)), Period(date(2025, 10, 1), date(2026, 12, 31))):
        want_counts, got_counts = TallyCounts(), TallyCounts()
        want = reference(((d.label, d.deal) for d in deals if d.label is not None), period, want_counts)
        got = tally(frame, period, got_counts)
        assert got == want
        assert list(got) == list(want)  # every label, in first-occurrence order
        assert got_counts == want_counts
        assert label_samples(deals, period) == want  # the frame built inside


def test_a_frame_rebuilds_its_columns_for_other_deals() -> None:
    rng = random.Random(1)
    one, other = _deals(rng, 50), _deals(rng, 50)
    columns = DealColumns.of(DealTable.of([d.deal for d in one]))
    assert columns.same_deals(one) and not columns.same_deals(other)
    assert LabelFrame.of(other, columns).columns is not columns
