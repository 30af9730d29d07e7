"""The whole review from its plain inputs (pure): what ``crmseg review`` computes once the deals,
labels and account facts are read (``crmseg.reviewing`` reads them from a sync's state or from
files).

Per dimension the caller gives the deals attributed in it (columns: ``crmseg.deals.timelines``),
each account's label at the period's start and end (the start unknown without a tag history
that reaches it), the churn counts (with a ``customer`` expression) and, for segment
dimensions, the account facts. From those:

- **label dimensions**: the metrics per label; **tiers** (labels declared ordered) add the
  calibration of the ladder; **segments** add viability (MASDA);
- **score dimensions**: the metrics per score band — deciles of the accounts' scores at the
  period's end, as the drift report bins them — and the calibration of the scores themselves;
- **health**, with a start: accounts in and out per label (accounts whose label at the start
  and at the end differ), the PSI of the dimension's distribution (start against end) and the
  win-rate trend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from crmseg.deals.table import AccountIndex, DealTable
from crmseg.deals.timelines import NO_LABEL, AttributedTable
from crmseg.drift.measures import Bins, decile_edges, psi
from crmseg.review.calibration import Calibration, calibrate_scores, calibrate_tiers
from crmseg.review.frame import AccountLabels, DealColumns, LabelFrame
from crmseg.review.health import Health, LabelDrift, health
from crmseg.review.metrics import MIN_CLOSED, Churn, dimension_metrics, label_samples, left_out_warnings
from crmseg.review.period import Period, previous_quarter, quarter_containing
from crmseg.review.result import DealSummary, DimensionReview, Review, alerts_for
from crmseg.review.viability import AccountFacts, Viability, viability

__all__ = [
    "DimensionInputs",
    "DimensionKind",
    "ReviewInputs",
    "ReviewSettings",
    "assemble",
    "assemble_with_trend",
    "periods_before",
    "quarterly",
]

DimensionKind = Literal["label", "tiers", "score"]


@dataclass(frozen=True, slots=True)
class DimensionInputs:
    """One dimension's inputs.

    ``end``: each account's label at the period's end; ``start``: the same at its start, None
    when no history tells it (no health then); ``churn``: None without a ``customer``
    expression (or a history that tells it); ``ladder``: a tier dimension's labels, top first;
    ``segment``: judge viability (``facts``). Every dimension's attribution holds the same deal
    table, and ``start``/``end`` number accounts as it does."""

    name: str
    kind: DimensionKind
    attribution: AttributedTable
    end: AccountLabels
    start: AccountLabels | None = None
    churn: Churn | None = None
    ladder: tuple[str, ...] = ()
    segment: bool = False
    facts: Sequence[AccountFacts] = ()


@dataclass(frozen=True, slots=True)
class ReviewInputs:
    """Everything a review is computed from; ``deals`` counts come from the first dimension."""

    period: Period
    compare: Period | None
    dimensions: Sequence[DimensionInputs]
    warnings: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class ReviewSettings:
    """The ``[review]`` figures the statistics use."""

    min_closed: int = MIN_CLOSED
    alpha: float = 0.05
    min_segment_size: float = 0.05
    alert_decaying: bool = True
    alert_out_of_order: bool = True


@dataclass(slots=True)
class _Binned:
    """A dimension's inputs in the labels its metrics use (score bands for a score dimension);
    ``labels`` the deals in their own labels (a score dimension's calibration reads the scores)."""

    frame: LabelFrame
    end: AccountLabels
    start: AccountLabels | None
    churn: Churn | None
    labels: LabelFrame


def _binned(dim: DimensionInputs, columns: DealColumns | None = None) -> _Binned:
    """``columns``: the deals' columns when already built (the frame is built on them)."""
    frame = LabelFrame.of_table(dim.attribution, columns)
    if dim.kind != "score":
        return _Binned(frame, dim.end, dim.start, dim.churn, frame)
    bins = Bins(tuple(decile_edges(dim.end.counts())))
    bands: dict[str, str] = {}

    def band(label: str) -> str:
        found = bands.get(label)
        if found is None:
            found = bands[label] = bins.label_of(label)
        return found

    return _Binned(
        frame.relabel(band),
        dim.end.relabel(band),
        dim.start.relabel(band) if dim.start is not None else None,
        dim.churn.relabel(band) if dim.churn is not None else None,
        frame,
    )


def _columns(inputs: ReviewInputs) -> DealColumns | None:
    """The deals' columns, built once for every dimension (they attribute the same deals)."""
    return DealColumns.of(inputs.dimensions[0].attribution.deals) if inputs.dimensions else None


def _drift(start: AccountLabels, end: AccountLabels) -> tuple[list[LabelDrift], float | None]:
    """Per label: accounts at the start and end, in and out (accounts whose label differs); the PSI."""
    names = list(dict.fromkeys([*start.names, *end.names]))
    n = max(len(start.code), len(end.code))
    a, b = (np.pad(x.recoded(names).code, (0, n - len(x.code)), constant_values=NO_LABEL) for x in (start, end))
    moved = a != b
    counts = [np.bincount(x[x != NO_LABEL], minlength=len(names)) for x in (a, b, b[moved], a[moved])]
    before_n, after_n, in_n, out_n = (c.tolist() for c in counts)
    before = {k: v for k, v in zip(names, before_n, strict=True) if v}
    after = {k: v for k, v in zip(names, after_n, strict=True) if v}
    where = {k: i for i, k in enumerate(names)}
    labels = sorted(before.keys() | after.keys())
    drift = [LabelDrift(k, before.get(k, 0), after.get(k, 0), in_n[where[k]], out_n[where[k]]) for k in labels]
    value = psi(before, after) if before and after else None
    return drift, value


def _dimension(
    dim: DimensionInputs, b: _Binned, period: Period, compare: Period | None, s: ReviewSettings
) -> tuple[DimensionReview, Viability | None, Health | None]:
    metrics = dimension_metrics(
        b.frame,
        period,
        compare,
        dimension=dim.name,
        accounts=b.end.counts(),
        customers=b.churn,
        min_closed=s.min_closed,
        alpha=s.alpha,
    )
    calibration: Calibration | None = None
    if dim.kind == "score":
        calibration = calibrate_scores(b.labels, period, min_closed=s.min_closed, alpha=s.alpha)
    elif dim.kind == "tiers" and dim.ladder:
        calibration = calibrate_tiers(b.labels, period, dim.ladder, min_closed=s.min_closed, alpha=s.alpha)
    scorecard = None
    if dim.segment:
        scorecard = viability(
            b.frame, period, dim.facts, min_segment_size=s.min_segment_size, min_closed=s.min_closed, alpha=s.alpha
        )
    view = None
    if b.start is not None:
        drift, value = _drift(b.start, b.end)
        view = health(metrics, drift, value)
    return DimensionReview(metrics, calibration), scorecard, view


def _all_binned(inputs: ReviewInputs) -> list[_Binned]:
    columns = _columns(inputs)
    return [_binned(dim, columns) for dim in inputs.dimensions]


def assemble(inputs: ReviewInputs, settings: ReviewSettings | None = None) -> Review:
    """The review of ``inputs``: every dimension's metrics, calibration, viability and health,
    the deal counts, the alerts (as ``settings`` enables them) and the warnings."""
    return _assemble(inputs, settings or ReviewSettings(), _all_binned(inputs))


def assemble_with_trend(
    inputs: ReviewInputs, periods: Sequence[Period], settings: ReviewSettings | None = None
) -> tuple[Review, dict[str, dict[str, object]]]:
    """:func:`assemble` and :func:`quarterly` over ``periods`` together, the deals' columns and
    labels prepared once for both."""
    binned = _all_binned(inputs)
    return _assemble(inputs, settings or ReviewSettings(), binned), _quarterly(inputs, periods, binned)


def _assemble(inputs: ReviewInputs, s: ReviewSettings, binned: Sequence[_Binned]) -> Review:
    dims: dict[str, DimensionReview] = {}
    scorecards: dict[str, Viability] = {}
    views: dict[str, Health] = {}
    for dim, b in zip(inputs.dimensions, binned, strict=True):
        review, scorecard, view = _dimension(dim, b, inputs.period, inputs.compare, s)
        dims[dim.name] = review
        if scorecard is not None:
            scorecards[dim.name] = scorecard
        if view is not None:
            views[dim.name] = view
    # the same deals in every dimension: what was left out is said once, naming dimensions that differ
    left_out = left_out_warnings({name: r.metrics.left_out for name, r in dims.items()})
    warnings = dict.fromkeys([*inputs.warnings, *left_out])
    alerting = {
        name: DimensionReview(
            r.metrics if s.alert_decaying else replace(r.metrics, labels={}),
            r.calibration if s.alert_out_of_order else None,
        )
        for name, r in dims.items()
    }
    first = inputs.dimensions[0].attribution if inputs.dimensions else _NO_DEALS
    return Review(
        inputs.period,
        inputs.compare,
        DealSummary.of(first, inputs.period),
        dims,
        scorecards,
        views,
        tuple(alerts_for(alerting, s.alpha)),
        tuple(warnings),
    )


_NO_DEALS = AttributedTable(
    "", "created", DealTable.of([], AccountIndex()), np.zeros(0, np.int32), (), np.zeros(0, np.int8)
)


def periods_before(period: Period, n: int, fiscal_year_start_month: int = 1) -> list[Period]:
    """``n`` periods ending with ``period``, oldest first: quarters when ``period`` is one (fiscal
    quarters of ``fiscal_year_start_month``), else spans of its length."""
    quarter = quarter_containing(period.start, fiscal_year_start_month) == period
    out = [period]
    while len(out) < n:
        out.append(previous_quarter(out[-1]) if quarter else out[-1].preceding())
    return out[::-1]


def quarterly(inputs: ReviewInputs, periods: Sequence[Period]) -> dict[str, dict[str, object]]:
    """Per dimension, the win rate and closed deals of each label in each of ``periods`` (the
    quarter-by-quarter trend): ``{DIM: {"periods": [{start, end}], "labels": {LABEL:
    {"win_rate": [x|None, ...], "closed": [n, ...]}}}}``."""
    return _quarterly(inputs, periods, _all_binned(inputs))


def _quarterly(
    inputs: ReviewInputs, periods: Sequence[Period], binned: Sequence[_Binned]
) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for dim, b in zip(inputs.dimensions, binned, strict=True):
        per = [label_samples(b.frame, p) for p in periods]
        labels = sorted({k for samples in per for k in samples})
        out[dim.name] = {
            "periods": [p.to_json() for p in periods],
            "labels": {
                k: {
                    "win_rate": [
                        (s[k].won / (s[k].won + s[k].lost)) if k in s and s[k].won + s[k].lost else None for s in per
                    ],
                    "closed": [(s[k].won + s[k].lost) if k in s else 0 for s in per],
                }
                for k in labels
            },
        }
    return out
