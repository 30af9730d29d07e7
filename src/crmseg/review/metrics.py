"""Outcome metrics per label of one dimension, for a period and the one it is compared with.

Over the deals **closed in the period** (``closed_at`` inside it; won or lost), per label the
deal was attributed to (:mod:`crmseg.deals.attribution`): counts, win rate by count (Wilson
interval) and by amount, won amount, average and median deal (t and order-statistic
intervals), median sales cycle of won deals (order-statistic interval), open pipeline at the
period's end, pipeline velocity, logo churn (from per-account customer flags), whether the
label has enough closed deals to judge (``sufficient``), Fisher's exact test against the other
labels and the trend against the compared period. ``docs/review.md`` gives every formula.

Deals without a label (no account, an account crmseg never saw, no label held) are left out
of every label; they and closed deals without a close date are counted in ``left_out``, said
in ``warnings`` (:func:`left_out_warnings` says it once for several dimensions). Undefined
figures are None, never NaN.

The deals come as a :class:`~crmseg.review.frame.LabelFrame` (columns, as a review builds them)
or as a sequence of ``AttributedDeal`` (made into a frame here).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import numpy as np

from crmseg.deals import AttributedDeal
from crmseg.deals.attribution import BASES
from crmseg.deals.timelines import NO_LABEL
from crmseg.review.frame import AccountLabels, LabelFrame, Samples, TallyCounts, tally
from crmseg.review.period import Period
from crmseg.review.stats import (
    CONFIDENCE,
    Interval,
    benjamini_hochberg,
    chi_square_p,
    fisher_p,
    mean_interval,
    median_interval,
    wilson,
)

__all__ = [
    "LABEL_KEYS",
    "MIN_CLOSED",
    "Churn",
    "CustomerFlag",
    "Deals",
    "DimensionMetrics",
    "LabelMetrics",
    "Samples",
    "Trend",
    "TrendFlag",
    "dimension_metrics",
    "frame_of",
    "label_samples",
    "left_out_warnings",
]

MIN_CLOSED: Final = 20  # the spec's ``[review] min_closed`` default
ALPHA: Final = 0.05
TrendFlag = Literal["decaying", "improving", "stable", "insufficient"]


@dataclass(frozen=True, slots=True)
class CustomerFlag:
    """Whether an account was a customer at the period's start and at its end, under the label it
    held at the start (the ``[review] customer`` expression evaluated by the caller)."""

    account: str
    label: str
    at_start: bool
    at_end: bool


@dataclass(frozen=True, slots=True)
class Churn:
    """Per label held at the period's start: the accounts that were customers then, and how many
    of those are no longer customers at its end (every label some account held is listed)."""

    counts: Mapping[str, tuple[int, int]]

    @classmethod
    def of(cls, flags: Iterable[CustomerFlag]) -> Churn:
        """From per-account flags."""
        started: defaultdict[str, int] = defaultdict(int)
        lost: defaultdict[str, int] = defaultdict(int)
        for c in flags:
            started[c.label] += 0  # the label exists even with no customer at the start
            if c.at_start:
                started[c.label] += 1
                lost[c.label] += not c.at_end
        return cls({label: (started[label], lost[label]) for label in started})

    @classmethod
    def of_columns(cls, start: AccountLabels, at_start: np.ndarray, at_end: np.ndarray) -> Churn:
        """From each account's label at the start and whether it was a customer at the start and at
        the end (per account number: arrays as long as ``start.code``)."""
        held = start.code != NO_LABEL
        code = start.code[held]
        n = len(start.names)
        present = np.bincount(code, minlength=n)
        started = np.bincount(code[at_start[held]], minlength=n)
        lost = np.bincount(code[at_start[held] & ~at_end[held]], minlength=n)
        return cls({start.names[i]: (int(started[i]), int(lost[i])) for i in np.flatnonzero(present).tolist()})

    def relabel(self, to: Callable[[str], str]) -> Churn:
        """The counts of labels that ``to`` maps together added up (e.g. scores into their bands)."""
        out: dict[str, tuple[int, int]] = {}
        for label, (started, lost) in self.counts.items():
            was = out.get(to(label), (0, 0))
            out[to(label)] = (was[0] + started, was[1] + lost)
        return Churn(out)


@dataclass(frozen=True, slots=True)
class Trend:
    """The win rate against the compared period: Fisher's exact test, two-sided.

    ``flag``: ``decaying`` / ``improving`` when lower / higher at ``p < alpha``, ``stable``
    otherwise, ``insufficient`` when either period has fewer closed deals than ``min_closed``.
    ``p_adjusted``: Benjamini–Hochberg over the dimension's labels (shown beside ``p``; the flag
    follows the spec and uses ``p``)."""

    previous_win_rate: float | None
    p: float | None
    flag: TrendFlag
    p_adjusted: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The spec's ``trend`` object (plus ``p_adjusted``)."""
        return {
            "previous_win_rate": self.previous_win_rate,
            "p": self.p,
            "flag": self.flag,
            "p_adjusted": self.p_adjusted,
        }


@dataclass(frozen=True, slots=True)
class LabelMetrics:
    """One label's figures for one period (the keys of the spec's table, in its order)."""

    accounts: int | None
    won: int
    lost: int
    win_rate: float | None
    win_rate_ci: Interval | None
    win_rate_amount: float | None
    won_amount: float
    avg_deal: float | None
    avg_deal_ci: Interval | None
    median_deal: float | None
    median_deal_ci: Interval | None
    cycle_days_median: float | None
    cycle_days_median_ci: Interval | None
    open_deals: int
    open_amount: float
    velocity: float | None
    customers_start: int | None
    churned: int | None
    logo_churn: float | None
    logo_churn_ci: Interval | None
    sufficient: bool
    vs_rest_p: float | None = None
    trend: Trend | None = None

    @property
    def closed(self) -> int:
        """Won plus lost."""
        return self.won + self.lost

    def to_json(self) -> dict[str, Any]:
        """Every key of the spec's table (intervals as ``[low, high]``), None where undefined."""
        out: dict[str, Any] = {}
        for name in LABEL_KEYS:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Trend):
                value = value.to_json()
            out[name] = value
        return out


LABEL_KEYS: Final[tuple[str, ...]] = tuple(LabelMetrics.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class DimensionMetrics:
    """Every label's metrics in one dimension for a period (and the compared one in ``previous``).

    ``differentiable_p``: Pearson's chi-square test of won/lost across the *sufficient* labels
    (None with fewer than two)."""

    dimension: str
    period: Period
    compare: Period | None
    labels: dict[str, LabelMetrics]
    previous: dict[str, LabelMetrics] = field(default_factory=dict)
    differentiable_p: float | None = None
    left_out: Mapping[str, int] = field(default_factory=dict)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What was left out, in words."""
        return tuple(left_out_warnings({self.dimension: self.left_out}))

    def to_json(self) -> dict[str, Any]:
        """``{"labels": {LABEL: {...}}, "differentiable_p"}`` (the caller adds ``calibration``)."""
        return {"labels": {k: v.to_json() for k, v in self.labels.items()}, "differentiable_p": self.differentiable_p}


Deals = Sequence[AttributedDeal] | LabelFrame


def frame_of(deals: Deals) -> LabelFrame:
    """``deals`` as a :class:`~crmseg.review.frame.LabelFrame` (a frame as it is)."""
    return deals if isinstance(deals, LabelFrame) else LabelFrame.of(deals)


def label_samples(deals: Deals, period: Period) -> dict[str, Samples]:
    """Each label's :class:`Samples` for ``period`` (deals without a label left out)."""
    return tally(frame_of(deals), period, TallyCounts())


def _metrics(
    t: Samples,
    accounts: int | None,
    churn: tuple[int, int] | None,
    min_closed: int,
    confidence: float,
) -> LabelMetrics:
    closed = t.won + t.lost
    win_rate = t.won / closed if closed else None
    won_amount = float(sum(t.won_amounts))
    avg = won_amount / len(t.won_amounts) if t.won_amounts else None
    cycle = float(np.median(t.cycles)) if t.cycles else None
    velocity = None
    if win_rate is not None and avg is not None and cycle:  # a zero-day median cycle has no speed
        velocity = t.open_deals * win_rate * avg / cycle
    customers, churned = churn if churn is not None else (None, None)
    return LabelMetrics(
        accounts=accounts,
        won=t.won,
        lost=t.lost,
        win_rate=win_rate,
        win_rate_ci=wilson(t.won, closed, confidence),
        win_rate_amount=won_amount / t.closed_amount if t.closed_amount > 0 else None,
        won_amount=won_amount,
        avg_deal=avg,
        avg_deal_ci=mean_interval(t.won_amounts, confidence),
        median_deal=float(np.median(t.won_amounts)) if t.won_amounts else None,
        median_deal_ci=median_interval(t.won_amounts, confidence),
        cycle_days_median=cycle,
        cycle_days_median_ci=median_interval(t.cycles, confidence),
        open_deals=t.open_deals,
        open_amount=t.open_amount,
        velocity=velocity,
        customers_start=customers,
        churned=churned,
        logo_churn=churned / customers if customers and churned is not None else None,
        logo_churn_ci=wilson(churned, customers, confidence) if customers and churned is not None else None,
        sufficient=closed >= min_closed,
    )


def _trend(now: LabelMetrics, before: LabelMetrics | None, alpha: float) -> Trend:
    prev = before.win_rate if before is not None else None
    p = None
    if before is not None:
        p = fisher_p(now.won, now.lost, before.won, before.lost)
    if before is None or not now.sufficient or not before.sufficient:
        return Trend(prev, p, "insufficient")
    flag: TrendFlag = "stable"
    if p is not None and p < alpha and now.win_rate is not None and prev is not None and now.win_rate != prev:
        flag = "decaying" if now.win_rate < prev else "improving"
    return Trend(prev, p, flag)


def dimension_metrics(
    deals: Deals,
    period: Period,
    compare: Period | None = None,
    *,
    dimension: str = "",
    accounts: Mapping[str, int] | None = None,
    customers: Iterable[CustomerFlag] | Churn | None = None,
    min_closed: int = MIN_CLOSED,
    alpha: float = ALPHA,
    confidence: float = CONFIDENCE,
) -> DimensionMetrics:
    """Every label's metrics over ``period`` (and ``compare``, for the trend).

    ``accounts``: accounts holding each label at the period's end (None: not known, shown null).
    ``customers``: per-account customer flags at the period's start and end, or their
    :class:`Churn` counts (None: no ``customer`` expression, churn shown null). Labels are those
    of the deals, ``accounts`` and ``customers``, sorted."""
    frame = frame_of(deals)
    unlabelled = np.bincount(frame.basis[frame.code == NO_LABEL], minlength=len(BASES))
    counts = TallyCounts()
    now = tally(frame, period, counts)
    before = tally(frame, compare, TallyCounts()) if compare is not None else {}
    churn: Mapping[str, tuple[int, int]] | None = None
    if customers is not None:
        churn = (customers if isinstance(customers, Churn) else Churn.of(customers)).counts
    names = sorted(set(now) | set(before) | set(accounts or {}) | set(churn or {}))
    held = accounts or {}

    def build(tallies: dict[str, Samples], with_churn: bool) -> dict[str, LabelMetrics]:
        out = {}
        for label in names:
            c = None if churn is None or not with_churn else churn.get(label, (0, 0))
            n = held.get(label, 0) if accounts is not None and with_churn else None
            out[label] = _metrics(tallies.get(label, Samples()), n, c, min_closed, confidence)
        return out

    current = build(now, True)
    previous = build(before, False) if compare is not None else {}
    won_all = sum(m.won for m in current.values())
    lost_all = sum(m.lost for m in current.values())
    trends = {k: _trend(m, previous.get(k), alpha) for k, m in current.items()} if compare is not None else {}
    adjusted = dict(zip(trends, benjamini_hochberg([t.p for t in trends.values()]), strict=True))
    labels: dict[str, LabelMetrics] = {}
    for label, m in current.items():
        trend = trends.get(label)
        if trend is not None:
            trend = Trend(trend.previous_win_rate, trend.p, trend.flag, adjusted[label])
        rest_p = fisher_p(m.won, m.lost, won_all - m.won, lost_all - m.lost) if m.closed else None
        labels[label] = replace(m, vs_rest_p=rest_p, trend=trend)
    judged = [[m.won, m.lost] for m in labels.values() if m.sufficient]
    by_basis = dict(zip(BASES, unlabelled.tolist(), strict=True))
    left_out = {
        "no_close_date": counts.no_close_date,
        "negative_cycle": counts.negative_cycle,
        "won_no_amount": counts.won_no_amount,
        "no_account": by_basis["no_account"],
        "unknown_account": by_basis["unknown_account"],
        "no_label": by_basis["as_of"] + by_basis["backfilled"] + by_basis["current"],  # the account held none
    }
    return DimensionMetrics(
        dimension, period, compare, labels, previous, chi_square_p(judged) if len(judged) >= 2 else None, left_out
    )


#: What a dimension's tally left out, in the order said.
LEFT_OUT: Final[dict[str, str]] = {
    "no_close_date": "closed deal(s) without a close date left out",
    "negative_cycle": "won deal(s) closed before they were created: left out of the cycle",
    "won_no_amount": "won deal(s) without an amount: left out of deal size",
    "no_account": "deal(s) without an account left out of the labels",
    "unknown_account": "deal(s) of accounts crmseg never saw left out of the labels",
    "no_label": "deal(s) with no label left out of the labels",
}


def left_out_warnings(per_dimension: Mapping[str, Mapping[str, int]]) -> list[str]:
    """What the dimensions' tallies left out, one line per kind: ``"N closed deal(s) …"`` when
    every dimension left out the same N, else naming them (``"… : 12 in segment, 3 in tier"``)."""
    out: list[str] = []
    for kind, text in LEFT_OUT.items():
        counts = {dim: left.get(kind, 0) for dim, left in per_dimension.items()}
        if not any(counts.values()):
            continue
        if len(set(counts.values())) == 1:
            out.append(f"{next(iter(counts.values()))} {text}")
        else:
            out.append(f"{text}: " + ", ".join(f"{n} in {dim}" for dim, n in counts.items() if n))
    return out
