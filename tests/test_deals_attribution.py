"""Attribution of deals to the label their account held (crmseg.deals.attribution), on plain data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmseg.deals import Deal, DealStatus, FirstLabel, LabelMove, TagHistory, attribute, attribute_current
from crmseg.deals.attribution import BASES, LabelAt

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def deal(
    did: str, account: str | None, created: float, status: DealStatus = "open", closed_at: date | None = None
) -> Deal:
    return Deal(id=did, account_id=account, created_at=at(created), status=status, closed_at=closed_at)


#: acc-1's segment: SMB first recorded on day 10, Mid-Market on day 20, Enterprise on day 30 (ISO text, as stored).
HISTORY = TagHistory(
    first=[FirstLabel("acc-1", "segment", "SMB", "2025-01-11T00:00:00+00:00")],
    moves=[
        LabelMove("acc-1", "segment", "SMB", "Mid-Market", "2025-01-21T00:00:00+00:00"),
        LabelMove("acc-1", "segment", "Mid-Market", "Enterprise", at(30)),
    ],
)


@pytest.mark.parametrize(
    "created, label, basis",
    [
        (5, "SMB", "backfilled"),  # before the first recorded label: the earliest one, counted
        (10, "SMB", "as_of"),  # the very instant it was recorded
        (15, "SMB", "as_of"),
        (20, "Mid-Market", "as_of"),  # a label holds from its transition's instant on
        (25, "Mid-Market", "as_of"),  # between the transitions
        (31, "Enterprise", "as_of"),  # after the last one
    ],
)
def test_created_mode_gives_the_label_held_when_the_deal_was_created(created: float, label: str, basis: str) -> None:
    result = attribute([deal("d", "acc-1", created)], HISTORY, "segment")
    assert [(d.label, d.basis) for d in result.deals] == [(label, basis)]
    assert result.mode == "created" and result.dimension == "segment"


def test_closed_mode_reads_the_start_of_the_closing_day_and_open_deals_get_the_current_label() -> None:
    deals = [
        deal("won", "acc-1", 5, status="won", closed_at=date(2025, 1, 26)),  # day 25: Mid-Market
        deal("lost", "acc-1", 5, status="lost", closed_at=date(2025, 1, 31)),  # day 30 at 00:00: Enterprise
        deal("early", "acc-1", 1, status="lost", closed_at=date(2025, 1, 3)),  # before the history
        deal("open", "acc-1", 5, status="open", closed_at=date(2025, 1, 15)),  # an expected date: not used
        deal("nodate", "acc-1", 5, status="won"),  # closed without a date: current
    ]
    got = {d.deal.id: (d.label, d.basis) for d in attribute(deals, HISTORY, "segment", "closed").deals}
    assert got == {
        "won": ("Mid-Market", "as_of"),
        "lost": ("Enterprise", "as_of"),
        "early": ("SMB", "backfilled"),
        "open": ("Enterprise", "current"),
        "nodate": ("Enterprise", "current"),
    }


def test_a_move_on_the_closing_day_does_not_count_for_closed() -> None:
    history = TagHistory(
        [FirstLabel("a", "stage", "Opportunity", at(0))], [LabelMove("a", "stage", "Opportunity", "Customer", at(9.5))]
    )
    won = deal("d", "a", 1, status="won", closed_at=at(9).date())
    assert attribute([won], history, "stage", "closed").deals[0].label == "Opportunity"


def test_current_mode_gives_the_latest_label_to_every_deal() -> None:
    result = attribute([deal("a", "acc-1", 1), deal("b", "acc-1", 25)], HISTORY, "segment", "current")
    assert [(d.label, d.basis) for d in result.deals] == [("Enterprise", "current")] * 2


def test_no_account_and_unknown_account_are_kept_and_counted() -> None:
    deals = [
        deal("none", None, 25),
        deal("blank", "", 25),
        deal("stranger", "acc-9", 25),
        deal("known", "acc-1", 25),
        deal("old", "acc-1", 2),
    ]
    result = attribute(deals, HISTORY, "segment")
    assert [d.deal.id for d in result.deals] == ["none", "blank", "stranger", "known", "old"]  # none dropped
    assert result.counts == {"as_of": 1, "backfilled": 1, "current": 0, "no_account": 2, "unknown_account": 1}
    assert [d.deal.id for d in result.attributed] == ["known", "old"]
    assert all(d.label is None for d in result.deals[:3])


def test_an_account_known_in_another_dimension_only_is_unknown_in_this_one() -> None:
    result = attribute([deal("d", "acc-1", 25)], HISTORY, "tier")
    assert result.counts["unknown_account"] == 1 and not HISTORY.knows("acc-1", "tier")


def test_without_a_first_label_the_earliest_transition_starts_the_history() -> None:
    history = TagHistory(
        moves=[
            LabelMove("a", "tier", "Tier 2", "Tier 1", at(20)),  # logged out of time order
            LabelMove("a", "tier", "Tier 3", "Tier 2", at(10)),
        ]
    )
    got = [
        (d.label, d.basis) for d in attribute([deal(str(n), "a", n) for n in (5, 10, 15, 25)], history, "tier").deals
    ]
    assert got == [("Tier 3", "backfilled"), ("Tier 2", "as_of"), ("Tier 2", "as_of"), ("Tier 1", "as_of")]


def test_moves_sharing_an_instant_apply_in_the_order_logged() -> None:
    # a manual CRM edit that crmseg then overwrote, both logged at the run's time
    history = TagHistory(
        [FirstLabel("a", "segment", "SMB", at(0))],
        [
            LabelMove("a", "segment", "SMB", "Partner", at(5)),  # (crm edit)
            LabelMove("a", "segment", "Partner", "Mid-Market", at(5)),
        ],
    )
    assert history.label_at("a", "segment", at(5)) == LabelAt("Mid-Market", "as_of")
    assert history.label_at("a", "segment", at(4.9)) == LabelAt("SMB", "as_of")


def test_a_none_label_is_a_label() -> None:
    history = TagHistory([FirstLabel("a", "segment", None, at(0))], [LabelMove("a", "segment", None, "SMB", at(3))])
    assert [d.label for d in attribute([deal("x", "a", 1), deal("y", "a", 4)], history, "segment").deals] == [
        None,
        "SMB",
    ]


def test_naive_times_are_utc_and_text_times_are_iso() -> None:
    history = TagHistory(
        [FirstLabel("a", "s", "X", datetime(2025, 1, 1, 12))], [LabelMove("a", "s", "X", "Y", "2025-01-02")]
    )
    assert history.label_at("a", "s", datetime(2025, 1, 1, 13, tzinfo=UTC)) == LabelAt("X", "as_of")
    assert history.label_at("a", "s", datetime(2025, 1, 2)) == LabelAt("Y", "as_of")


def test_two_first_labels_for_one_account_are_refused() -> None:
    with pytest.raises(ValueError, match="two first labels"):
        TagHistory([FirstLabel("a", "s", "X", at(0)), FirstLabel("a", "s", "Y", at(1))])


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="created, closed, current"):
        attribute([], HISTORY, "segment", "won")  # type: ignore[arg-type]  # the wrong value on purpose


def test_attribute_current_uses_a_current_evaluation_for_every_deal() -> None:
    labels = {"a": "SMB", "b": None}
    result = attribute_current(
        [deal("1", "a", 0), deal("2", "b", 0), deal("3", "c", 0), deal("4", None, 0)], labels, "segment"
    )
    assert [(d.label, d.basis) for d in result.deals] == [
        ("SMB", "current"),
        (None, "current"),
        (None, "unknown_account"),
        (None, "no_account"),
    ]
    assert result.mode == "current" and set(result.counts) == set(BASES)


# ---------------------------------------------------------------- property: the same as a replay
labels_st = st.sampled_from(["SMB", "Mid-Market", "Enterprise", None])
moves_st = st.lists(st.tuples(st.integers(0, 100), labels_st), max_size=12)


def replay(first: tuple[int, str | None], moves: list[tuple[int, str | None]], t: int) -> tuple[str | None, str]:
    """The label at ``t`` by replaying, one by one, the transitions logged up to ``t``."""
    start, label = first
    if t < start:
        return label, "backfilled"
    for when, to in moves:  # in the order logged; moves never precede the first label here
        if when <= t:
            label = to
    return label, "as_of"


@given(
    first_at=st.integers(0, 50),
    first_label=labels_st,
    offsets=moves_st,
    ts=st.lists(st.integers(-10, 160), min_size=1, max_size=10),
)
def test_attributing_at_t_equals_replaying_the_transitions_up_to_t(
    first_at: int, first_label: str | None, offsets: list[tuple[int, str | None]], ts: list[int]
) -> None:
    moves = sorted(((first_at + d, to) for d, to in offsets), key=lambda m: m[0])  # logged in time order
    history = TagHistory(
        [FirstLabel("a", "seg", first_label, at(first_at))],
        [LabelMove("a", "seg", None, to, at(when)) for when, to in moves],
    )
    deals = [deal(f"d{i}", "a", t) for i, t in enumerate(ts)]
    got = [(d.label, d.basis) for d in attribute(deals, history, "seg").deals]
    assert got == [replay((first_at, first_label), moves, t) for t in ts]
