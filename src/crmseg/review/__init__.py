"""The statistics of ``crmseg review`` on plain data (no I/O; scipy.stats for every test).

- :mod:`~crmseg.review.metrics`: per label of a dimension, win rate, deal size, cycle,
  velocity, churn, sufficiency, the test against the other labels and the trend;
- :mod:`~crmseg.review.calibration`: bands, lift, AUC and out-of-order bands of a score or
  ordered tier dimension;
- :mod:`~crmseg.review.viability`: MASDA per segment label, with merge candidates;
- :mod:`~crmseg.review.health`: drift (accounts in/out, PSI) joined with the win-rate trend;
- :mod:`~crmseg.review.result`: the whole review as the spec's JSON, and its alerts.

Definitions and formulas: ``docs/review.md``.
"""

from __future__ import annotations

from crmseg.review.calibration import Band, Calibration, OutOfOrder, calibrate_scores, calibrate_tiers
from crmseg.review.health import Health, HealthLine, LabelDrift, health
from crmseg.review.metrics import (
    LABEL_KEYS,
    MIN_CLOSED,
    CustomerFlag,
    DimensionMetrics,
    LabelMetrics,
    Samples,
    Trend,
    TrendFlag,
    dimension_metrics,
    label_samples,
)
from crmseg.review.period import Period, parse_quarter, previous_quarter, quarter_containing
from crmseg.review.result import DealSummary, DimensionReview, Review, alerts_for
from crmseg.review.viability import AccountFacts, LabelViability, PairTest, Verdict, Viability, viability

__all__ = [
    "LABEL_KEYS",
    "MIN_CLOSED",
    "AccountFacts",
    "Band",
    "Calibration",
    "CustomerFlag",
    "DealSummary",
    "DimensionMetrics",
    "DimensionReview",
    "Health",
    "HealthLine",
    "LabelDrift",
    "LabelMetrics",
    "LabelViability",
    "OutOfOrder",
    "PairTest",
    "Period",
    "Review",
    "Samples",
    "Trend",
    "TrendFlag",
    "Verdict",
    "Viability",
    "alerts_for",
    "calibrate_scores",
    "calibrate_tiers",
    "dimension_metrics",
    "health",
    "label_samples",
    "parse_quarter",
    "previous_quarter",
    "quarter_containing",
    "viability",
]
