"""The review as one typed result: the spec's machine-readable view (``review --json``) and its
alerts, assembled from the per-dimension parts (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crmseg.deals import Attribution
from crmseg.deals.table import LOST, OPEN, WON
from crmseg.deals.timelines import AttributedTable
from crmseg.review.calibration import Calibration
from crmseg.review.health import Health
from crmseg.review.metrics import DimensionMetrics
from crmseg.review.period import Period
from crmseg.review.viability import Viability

__all__ = ["DealSummary", "DimensionReview", "Review", "alerts_for"]


@dataclass(frozen=True, slots=True)
class DealSummary:
    """The ``deals`` object: what was read and how it was attributed."""

    read: int
    closed: int
    won: int
    lost: int
    open: int
    no_account: int
    as_of: int
    backfilled: int
    current: int
    unknown_account: int = 0

    @classmethod
    def of(cls, attribution: Attribution | AttributedTable, period: Period) -> DealSummary:
        """Counts over every deal of ``attribution``: closed / won / lost in ``period``, open at its end."""
        columns = attribution if isinstance(attribution, AttributedTable) else AttributedTable.of(attribution)
        t = columns.deals
        start, end = period.start.toordinal(), period.end.toordinal()
        inside = (t.status != OPEN) & (t.closed != 0) & (t.closed >= start) & (t.closed <= end)
        won = int(np.count_nonzero(inside & (t.status == WON)))
        lost = int(np.count_nonzero(inside & (t.status == LOST)))
        still_open = int(np.count_nonzero((t.created_day <= end) & ((t.status == OPEN) | (t.closed > end))))
        n = columns.counts
        return cls(
            len(t),
            won + lost,
            won,
            lost,
            still_open,
            n["no_account"],
            n["as_of"],
            n["backfilled"],
            n["current"],
            n["unknown_account"],
        )

    def to_json(self) -> dict[str, Any]:
        """The spec's ``deals`` object (plus ``unknown_account``)."""
        return {
            "read": self.read,
            "closed": self.closed,
            "won": self.won,
            "lost": self.lost,
            "open": self.open,
            "no_account": self.no_account,
            "attribution": {"as_of": self.as_of, "backfilled": self.backfilled, "current": self.current},
            "unknown_account": self.unknown_account,
        }


@dataclass(frozen=True, slots=True)
class DimensionReview:
    """One dimension: its label metrics and, for score and ordered tier dimensions, calibration."""

    metrics: DimensionMetrics
    calibration: Calibration | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"labels", "differentiable_p", "calibration"}``."""
        return {**self.metrics.to_json(), "calibration": self.calibration.to_json() if self.calibration else None}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _q(q: float | None) -> str:
    return "n/a" if q is None else f"{q:.2g}"


def alerts_for(dimensions: Mapping[str, DimensionReview], alpha: float = 0.05) -> list[str]:
    """The alerts a scheduled review pages on: a sufficient label whose win rate is ``decaying``
    with its Benjamini–Hochberg adjusted p (over the dimension's labels) below ``alpha``, and
    adjacent calibration bands out of order with the adjusted p (over the ladder's adjacent
    pairs) below ``alpha``. Insufficient labels and bands never alert.

    Adjusted, not raw: a review runs a test per label and per adjacent band of every dimension,
    and on raw p < 0.05 a third of quiet quarters paged someone (docs/review.md, "Alerts")."""
    out: list[str] = []
    for dim, review in dimensions.items():
        for label, m in review.metrics.labels.items():
            t = m.trend
            if (
                m.sufficient
                and t is not None
                and t.flag == "decaying"
                and t.p_adjusted is not None
                and t.p_adjusted < alpha
            ):
                out.append(
                    f"{dim} {label}: win rate fell from {_pct(t.previous_win_rate)} to {_pct(m.win_rate)} "
                    f"(p = {t.p:.2g}, adjusted {_q(t.p_adjusted)})"
                )
        cal = review.calibration
        for o in cal.out_of_order if cal else ():
            if o.p_adjusted is not None and o.p_adjusted < alpha:
                out.append(
                    f"{dim}: {o.upper} wins less than {o.lower} below it (p = {_q(o.p)}, adjusted {_q(o.p_adjusted)})"
                )
    return out


@dataclass(frozen=True, slots=True)
class Review:
    """The whole review; :meth:`to_json` is the spec's ``review --json`` (plus ``health``)."""

    period: Period
    compare: Period | None
    deals: DealSummary
    dimensions: dict[str, DimensionReview]
    viability: dict[str, Viability] = field(default_factory=dict)
    health: dict[str, Health] = field(default_factory=dict)
    alerts: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The machine-readable view: rates as fractions, None where undefined, never NaN."""
        period: dict[str, Any] = {**self.period.to_json(), "compare": self.compare.to_json() if self.compare else None}
        return {
            "period": period,
            "deals": self.deals.to_json(),
            "dimensions": {k: v.to_json() for k, v in self.dimensions.items()},
            "viability": {k: v.to_json() for k, v in self.viability.items()},
            "alerts": list(self.alerts),
            "warnings": list(self.warnings),
            "health": {k: v.to_json() for k, v in self.health.items()},
        }
