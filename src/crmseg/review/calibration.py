"""Does the score (or the tier ladder) rank deals by their chance to win? (pure)

Over the deals closed in the period, banded by the label their account held: a **tier
dimension** whose labels are declared ordered is banded by its labels (top tier first); a
**score dimension** by score deciles of the accounts that had closed deals (the drift
report's bins, :class:`crmseg.drift.measures.Bins`; top band first). Per band: accounts,
won, lost, win rate with its Wilson interval and **lift** (band win rate / overall win
rate). Over all of them: the **AUC** — the probability that a won deal's account scores above
a lost one's, ties counting one half (Mann–Whitney U / (won × lost)) — with its Hanley–McNeil
interval and the Mann–Whitney p-value against 0.5; **monotonic**, and the adjacent bands out
of order (an upper band winning less than the one below it) with a one-sided Fisher exact
p-value, and that p adjusted by Benjamini–Hochberg over every adjacent pair compared (a
ladder of ten score bands makes nine such tests: the adjusted p is what a finding and an alert
rest on). Bands with fewer closed deals than ``min_closed`` are shown but never compared:
adjacency skips them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np

from crmseg.deals.table import OPEN, WON
from crmseg.drift.measures import Bins, decile_edges, number
from crmseg.review.frame import LabelFrame
from crmseg.review.metrics import MIN_CLOSED, Deals, frame_of
from crmseg.review.period import Period
from crmseg.review.stats import (
    CONFIDENCE,
    Interval,
    auc,
    auc_interval,
    benjamini_hochberg,
    fisher_p,
    mann_whitney_p,
    wilson,
)

__all__ = ["Band", "Calibration", "OutOfOrder", "calibrate_scores", "calibrate_tiers"]


@dataclass(frozen=True, slots=True)
class Band:
    """One band's outcomes; ``sufficient`` as for a label."""

    band: str
    accounts: int
    won: int
    lost: int
    win_rate: float | None
    win_rate_ci: Interval | None
    lift: float | None
    sufficient: bool

    def to_json(self) -> dict[str, Any]:
        """The spec's band keys (plus ``sufficient``)."""
        return {
            "band": self.band,
            "accounts": self.accounts,
            "won": self.won,
            "lost": self.lost,
            "win_rate": self.win_rate,
            "win_rate_ci": list(self.win_rate_ci) if self.win_rate_ci else None,
            "lift": self.lift,
            "sufficient": self.sufficient,
        }


@dataclass(frozen=True, slots=True)
class OutOfOrder:
    """``upper`` (ranked higher) wins less than ``lower``; ``p``: one-sided Fisher exact test;
    ``p_adjusted``: Benjamini–Hochberg over every adjacent pair of the ladder compared."""

    upper: str
    lower: str
    p: float | None
    p_adjusted: float | None = None

    def to_json(self) -> list[Any]:
        """``[BAND, BAND, p]`` as the spec writes it."""
        return [self.upper, self.lower, self.p]


@dataclass(frozen=True, slots=True)
class Calibration:
    """The calibration of one dimension (bands top first)."""

    kind: Literal["score", "tiers"]
    bands: tuple[Band, ...]
    auc: float | None
    auc_ci: Interval | None
    auc_p: float | None
    monotonic: bool | None
    out_of_order: tuple[OutOfOrder, ...]
    findings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The spec's ``calibration`` object (plus ``auc_p`` and ``findings``)."""
        return {
            "bands": [b.to_json() for b in self.bands],
            "auc": self.auc,
            "auc_ci": list(self.auc_ci) if self.auc_ci else None,
            "monotonic": self.monotonic,
            "out_of_order": [o.to_json() for o in self.out_of_order],
            "out_of_order_p_adjusted": [o.p_adjusted for o in self.out_of_order],
            "auc_p": self.auc_p,
            "findings": list(self.findings),
        }


@dataclass(frozen=True, slots=True)
class _Outcomes:
    """The closed deals calibrated, in the deals' order: each one's band (an index of the bands'
    order), account (a number; deals without one share -1), whether it was won, and its rank
    (higher ranks higher: the AUC's score)."""

    band: np.ndarray
    account: np.ndarray
    won: np.ndarray
    rank: np.ndarray


def _closed_in(frame: LabelFrame, period: Period) -> np.ndarray:
    """The labelled deals closed in ``period`` (a mask)."""
    t = frame.columns.table
    start, end = period.start.toordinal(), period.end.toordinal()
    return (frame.code >= 0) & (t.status != OPEN) & (t.closed != 0) & (t.closed >= start) & (t.closed <= end)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _p(p: float | None) -> str:
    return "p n/a" if p is None else f"p = {p:.2g}"


def _q(q: float | None) -> str:
    return "n/a" if q is None else f"{q:.2g}"


def _calibrate(
    kind: Literal["score", "tiers"],
    outcomes: _Outcomes,
    order: Sequence[str],
    min_closed: int,
    alpha: float,
    confidence: float,
) -> Calibration:
    o = outcomes
    n = len(o.won)
    won_all = int(np.count_nonzero(o.won))
    overall = won_all / n if n else None
    bands: list[Band] = []
    for i, name in enumerate(order):
        mine = o.band == i
        closed = int(np.count_nonzero(mine))
        won = int(np.count_nonzero(mine & o.won))
        lost = closed - won
        rate = won / closed if closed else None
        lift = rate / overall if rate is not None and overall else None
        accounts = len(np.unique(o.account[mine]))
        bands.append(Band(name, accounts, won, lost, rate, wilson(won, closed, confidence), lift, closed >= min_closed))
    judged = [b for b in bands if b.sufficient]
    # every adjacent pair is a test (is the upper band's win rate lower?); adjusted together
    pairs = list(pairwise(judged))
    ps = [fisher_p(u.won, u.lost, lo.won, lo.lost, alternative="less") for u, lo in pairs]
    wrong: list[OutOfOrder] = []
    findings: list[str] = []
    for (upper, lower), p, q in zip(pairs, ps, benjamini_hochberg(ps), strict=True):
        if upper.win_rate is not None and lower.win_rate is not None and upper.win_rate < lower.win_rate:
            wrong.append(OutOfOrder(upper.band, lower.band, p, q))
            sig = "" if q is not None and q < alpha else ", which may be noise"
            findings.append(
                f"{upper.band} wins less than {lower.band} below it: {_pct(upper.win_rate)} vs "
                f"{_pct(lower.win_rate)} ({_p(p)}, adjusted {_q(q)}{sig})"
            )
    if len(judged) >= 2 and judged[0].win_rate is not None and judged[1].win_rate is not None:
        top, nxt = judged[0], judged[1]
        if top.win_rate == nxt.win_rate:  # (lower is an out-of-order finding above)
            findings.append(f"the top band {top.band} does not win more than {nxt.band}: both {_pct(top.win_rate)}")
    pos = o.rank[o.won].tolist()
    neg = o.rank[~o.won].tolist()
    area = auc(pos, neg)
    return Calibration(
        kind=kind,
        bands=tuple(bands),
        auc=area,
        auc_ci=auc_interval(area, len(pos), len(neg), confidence) if area is not None else None,
        auc_p=mann_whitney_p(pos, neg),
        monotonic=(not wrong) if len(judged) >= 2 else None,
        out_of_order=tuple(wrong),
        findings=tuple(findings),
    )


def calibrate_tiers(
    deals: Deals,
    period: Period,
    ladder: Sequence[str],
    *,
    min_closed: int = MIN_CLOSED,
    alpha: float = 0.05,
    confidence: float = CONFIDENCE,
) -> Calibration:
    """Calibration of an ordered tier dimension; ``ladder``: its labels, **top tier first**.
    Deals whose label is not on the ladder are left out."""
    frame = frame_of(deals)
    step = {label: i for i, label in enumerate(ladder)}
    band = np.array([*(step.get(name, -1) for name in frame.names), -1], dtype=np.int64)[frame.code]
    rows = np.flatnonzero(_closed_in(frame, period) & (band >= 0))
    t = frame.columns.table
    outcomes = _Outcomes(band[rows], t.account[rows], t.status[rows] == WON, (len(ladder) - band[rows]).astype(float))
    return _calibrate("tiers", outcomes, list(ladder), min_closed, alpha, confidence)


def calibrate_scores(
    deals: Deals,
    period: Period,
    *,
    min_closed: int = MIN_CLOSED,
    alpha: float = 0.05,
    confidence: float = CONFIDENCE,
) -> Calibration:
    """Calibration of a score dimension: deciles of the scores of the accounts with closed deals in
    the period (each distinct account and score once; a deal without an account counts as its
    own; edges as the drift report's), top band first; the AUC ranks by the score itself. Labels
    that are not numbers are left out."""
    frame = frame_of(deals)
    values = np.array([*(np.nan if (v := number(name)) is None else v for name in frame.names), np.nan])
    rows = np.flatnonzero(_closed_in(frame, period) & ~np.isnan(values[frame.code]))
    t = frame.columns.table
    code, account = frame.code[rows], t.account[rows]
    who = np.where(account >= 0, account, -2 - rows)  # a deal without an account: itself
    pairs = np.unique(np.stack([who.astype(np.int64), code.astype(np.int64)]), axis=1)
    per_label = np.bincount(pairs[1], minlength=len(frame.names))
    seen = {frame.names[i]: int(k) for i, k in enumerate(per_label.tolist()) if k}
    bins = Bins(tuple(decile_edges(seen)))
    order = list(reversed(bins.labels))
    at = {name: i for i, name in enumerate(order)}
    band_of = np.array([at.get(bins.label_of(name), -1) if name in seen else -1 for name in frame.names] + [-1])
    outcomes = _Outcomes(band_of[code], account, t.status[rows] == WON, values[code])
    return _calibrate("score", outcomes, order, min_closed, alpha, confidence)
