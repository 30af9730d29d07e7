"""The whole review from its plain inputs (pure): what ``crmseg review`` computes once the deals,
labels and account facts are read (``crmseg.reviewing`` reads them from a sync's state or from
files).

Per dimension the caller gives the deals attributed in it, each account's label at the
period's start and end (the start unknown without a tag history), the customer flags (with a
``customer`` expression) and, for segment dimensions, the account facts. From those:

- **label dimensions**: the metrics per label; **tiers** (labels declared ordered) add the
  calibration of the ladder; **segments** add viability (MASDA);
- **score dimensions**: the metrics per score band — deciles of the accounts' scores at the
  period's end, as the drift report bins them — and the calibration of the scores themselves;
- **health**, with a start: accounts in and out per label (accounts whose label at the start
  and at the end differ), the PSI of the dimension's distribution (start against end) and the
  win-rate trend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from crmseg.deals import AttributedDeal, Attribution
from crmseg.drift.measures import Bins, decile_edges, psi
from crmseg.review.calibration import Calibration, calibrate_scores, calibrate_tiers
from crmseg.review.frame import DealColumns, LabelFrame
from crmseg.review.health import Health, LabelDrift, health
from crmseg.review.metrics import MIN_CLOSED, CustomerFlag, dimension_metrics, label_samples
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

    ``end``: account -> its label at the period's end (accounts holding none left out or None);
    ``start``: the same at the period's start, None when no history tells it (no health then);
    ``ladder``: a tier dimension's labels, top first; ``segment``: judge viability (``facts``)."""

    name: str
    kind: DimensionKind
    attribution: Attribution
    end: Mapping[str, str | None]
    start: Mapping[str, str | None] | None = None
    customers: Sequence[CustomerFlag] | None = None
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
    """A dimension's inputs in the labels its metrics use (score bands for a score dimension)."""

    deals: tuple[AttributedDeal, ...]
    end: dict[str, str | None]
    start: dict[str, str | None] | None
    customers: list[CustomerFlag] | None
    frame: LabelFrame


def _bins(dim: DimensionInputs) -> Bins:
    counts = Counter(v for v in dim.end.values() if v is not None)
    return Bins(tuple(decile_edges(counts)))


def _binned(dim: DimensionInputs, columns: DealColumns | None = None) -> _Binned:
    """``columns``: the deals' columns when already built (the frame is built on them)."""
    if dim.kind != "score":
        deals = dim.attribution.deals
        return _Binned(
            deals,
            dict(dim.end),
            dict(dim.start) if dim.start is not None else None,
            list(dim.customers) if dim.customers is not None else None,
            LabelFrame.of(deals, columns),
        )
    bins = _bins(dim)
    bands: dict[str, str] = {}

    def band(label: str | None) -> str | None:
        if label is None:
            return None
        found = bands.get(label)
        if found is None:
            found = bands[label] = bins.label_of(label)
        return found

    deals = tuple(AttributedDeal(d.deal, band(d.label), d.basis) for d in dim.attribution.deals)
    return _Binned(
        deals,
        {k: band(v) for k, v in dim.end.items()},
        {k: band(v) for k, v in dim.start.items()} if dim.start is not None else None,
        [replace(c, label=band(c.label) or "") for c in dim.customers] if dim.customers is not None else None,
        LabelFrame.of(deals, columns),
    )


def _columns(inputs: ReviewInputs) -> DealColumns | None:
    """The deals' columns, built once for every dimension (they attribute the same deals)."""
    return DealColumns.of([d.deal for d in inputs.dimensions[0].attribution.deals]) if inputs.dimensions else None


def _counts(labels: Mapping[str, str | None]) -> Counter[str]:
    return Counter(v for v in labels.values() if v is not None)


def _drift(start: Mapping[str, str | None], end: Mapping[str, str | None]) -> tuple[list[LabelDrift], float | None]:
    """Per label: accounts at the start and end, in and out (accounts whose label differs); the PSI."""
    before, after = _counts(start), _counts(end)
    moved_in: Counter[str] = Counter()
    moved_out: Counter[str] = Counter()
    for account in start.keys() | end.keys():
        a, b = start.get(account), end.get(account)
        if a == b:
            continue
        if a is not None:
            moved_out[a] += 1
        if b is not None:
            moved_in[b] += 1
    labels = sorted(before.keys() | after.keys())
    drift = [LabelDrift(k, before[k], after[k], moved_in[k], moved_out[k]) for k in labels]
    value = psi(before, after) if before and after else None
    return drift, value


def _dimension(
    dim: DimensionInputs, b: _Binned, period: Period, compare: Period | None, s: ReviewSettings
) -> tuple[DimensionReview, Viability | None, Health | None, tuple[str, ...]]:
    metrics = dimension_metrics(
        b.deals,
        period,
        compare,
        dimension=dim.name,
        accounts=dict(_counts(b.end)),
        customers=b.customers,
        min_closed=s.min_closed,
        alpha=s.alpha,
        frame=b.frame,
    )
    calibration: Calibration | None = None
    if dim.kind == "score":
        calibration = calibrate_scores(dim.attribution.deals, period, min_closed=s.min_closed, alpha=s.alpha)
    elif dim.kind == "tiers" and dim.ladder:
        calibration = calibrate_tiers(dim.attribution.deals, period, dim.ladder, min_closed=s.min_closed, alpha=s.alpha)
    scorecard = None
    if dim.segment:
        scorecard = viability(
            b.deals,
            period,
            dim.facts,
            min_segment_size=s.min_segment_size,
            min_closed=s.min_closed,
            alpha=s.alpha,
            frame=b.frame,
        )
    view = None
    if b.start is not None:
        drift, value = _drift(b.start, b.end)
        view = health(metrics, drift, value)
    return DimensionReview(metrics, calibration), scorecard, view, metrics.warnings


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
    warnings: dict[str, None] = dict.fromkeys(inputs.warnings)
    for dim, b in zip(inputs.dimensions, binned, strict=True):
        review, scorecard, view, notes = _dimension(dim, b, inputs.period, inputs.compare, s)
        dims[dim.name] = review
        if scorecard is not None:
            scorecards[dim.name] = scorecard
        if view is not None:
            views[dim.name] = view
        warnings.update(dict.fromkeys(notes))  # the same deals in every dimension: said once
    alerting = {
        name: DimensionReview(
            r.metrics if s.alert_decaying else replace(r.metrics, labels={}),
            r.calibration if s.alert_out_of_order else None,
        )
        for name, r in dims.items()
    }
    first = inputs.dimensions[0].attribution if inputs.dimensions else Attribution("", "created", ())
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
        per = [label_samples(b.deals, p, b.frame) for p in periods]
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
