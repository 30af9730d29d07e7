"""The statistics the review uses, each a thin typed wrapper over ``scipy.stats``.

Every function returns plain floats, with None where the figure is undefined (no data, a
degenerate sample, a bound scipy reports as NaN or infinite) — never NaN. The formulas are
documented in ``docs/review.md``; none is written out here where scipy has it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, cast

import numpy as np
from scipy import stats

__all__ = [
    "CONFIDENCE",
    "Interval",
    "auc",
    "auc_interval",
    "benjamini_hochberg",
    "chi_square_p",
    "finite",
    "fisher_p",
    "mann_whitney_p",
    "mean_interval",
    "median_interval",
    "wilson",
]

CONFIDENCE = 0.95
Interval = tuple[float, float]
Alternative = Literal["two-sided", "less", "greater"]


def finite(value: float | np.floating | None) -> float | None:
    """``value`` as a float, or None when it is missing, NaN or infinite."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def _interval(low: float | np.floating | None, high: float | np.floating | None) -> Interval | None:
    lo, hi = finite(low), finite(high)
    return None if lo is None or hi is None else (lo, hi)


def wilson(successes: int, trials: int, confidence: float = CONFIDENCE) -> Interval | None:
    """Wilson score interval of a proportion (``binomtest(...).proportion_ci(method="wilson")``);
    None with no trials."""
    if trials <= 0:
        return None
    ci = stats.binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return _interval(ci.low, ci.high)


def fisher_p(a: int, b: int, c: int, d: int, alternative: Alternative = "two-sided") -> float | None:
    """Fisher's exact test on ``[[a, b], [c, d]]`` (rows: groups; columns: won, lost); None when a
    row or a column is all zero (nothing to compare)."""
    if a + b == 0 or c + d == 0 or a + c == 0 or b + d == 0:
        return None
    return finite(stats.fisher_exact(np.array([[a, b], [c, d]]), alternative=alternative).pvalue)


def chi_square_p(table: Sequence[Sequence[int]]) -> float | None:
    """Pearson's chi-square test of independence (no continuity correction) on a groups × outcomes
    table; rows or columns that are all zero are left out, None with fewer than two of either."""
    arr = np.asarray(table, dtype=float)
    if arr.ndim != 2:
        return None
    arr = arr[arr.sum(axis=1) > 0]
    if arr.size:
        arr = arr[:, arr.sum(axis=0) > 0]
    if arr.shape[0] < 2 or arr.ndim != 2 or arr.shape[1] < 2:
        return None
    return finite(stats.chi2_contingency(arr, correction=False).pvalue)


def mann_whitney_p(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Two-sided Mann–Whitney U test p-value (scipy picks exact or asymptotic); None when a sample
    is empty or every value of both is equal (no ranking to test)."""
    if not len(x) or not len(y):
        return None
    if len(set(x) | set(y)) < 2:
        return None
    return finite(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)


def auc(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """The probability that a positive's score is above a negative's (ties count one half):
    Mann–Whitney ``U`` of the positives divided by ``n_pos × n_neg``; None when a side is empty."""
    if not len(positive) or not len(negative):
        return None
    u = stats.mannwhitneyu(positive, negative, alternative="two-sided", method="asymptotic").statistic
    return finite(float(u) / (len(positive) * len(negative)))


def auc_interval(area: float, n_pos: int, n_neg: int, confidence: float = CONFIDENCE) -> Interval | None:
    """Hanley & McNeil (1982) interval of an AUC: ``area ± z·SE`` clipped to [0, 1], with
    ``SE² = (A(1−A) + (n₁−1)(Q₁−A²) + (n₂−1)(Q₂−A²)) / (n₁n₂)``, ``Q₁ = A/(2−A)``,
    ``Q₂ = 2A²/(1+A)``. scipy has no AUC interval; this closed form is the standard one and,
    unlike a bootstrap, costs nothing at any size. None with an empty side."""
    if n_pos <= 0 or n_neg <= 0:
        return None
    a = area
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    se = math.sqrt(max(var, 0.0))
    return _interval(max(0.0, a - z * se), min(1.0, a + z * se))


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval | None:
    """Student-t interval of a mean (``stats.t.interval`` with the standard error
    ``stats.sem``); the point itself when the standard error is zero (every value equal); None
    with fewer than two values."""
    if len(values) < 2:
        return None
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    sem = float(stats.sem(arr))
    if sem == 0.0:  # every value equal (or differing below float resolution): scipy needs scale > 0
        return _interval(mean, mean)
    low, high = stats.t.interval(confidence, len(arr) - 1, loc=mean, scale=sem)
    return _interval(low, high)


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval | None:
    """Distribution-free interval of a median from order statistics (``stats.quantile_test(...)
    .confidence_interval``); None when the sample is too small for the confidence (fewer than 6
    values at 95%)."""
    if not len(values):
        return None
    arr = np.asarray(values, dtype=float)
    ci = stats.quantile_test(arr, q=float(np.median(arr)), p=0.5).confidence_interval(confidence)
    # scipy-stubs 1.18 types this as a float; scipy returns a ConfidenceInterval (low, high)
    low, high = cast("tuple[float, float]", ci)
    return _interval(low, high)


def benjamini_hochberg(pvalues: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values (``stats.false_discovery_control``) over the given
    ones, None kept in place."""
    known = [(i, p) for i, p in enumerate(pvalues) if p is not None]
    out: list[float | None] = [None] * len(pvalues)
    if not known:
        return out
    adjusted = stats.false_discovery_control([p for _, p in known], method="bh")
    for (i, _), q in zip(known, adjusted, strict=True):
        out[i] = finite(float(q))
    return out
