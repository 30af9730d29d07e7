"""Segment drift on plain data (no I/O): PSI, score binning, transition matrix, flapping.

**PSI** (population stability index) between an *expected* (baseline) and an *actual*
distribution of label counts::

    PSI = Σ (a − e) · ln(a / e)

over the union of the labels of both, where ``e`` and ``a`` are each label's *share* of its
own distribution. A label absent from one side has share 0, where the log is undefined, so a
zero share is replaced by ``eps`` (default ``1e-4``, i.e. 0.01 %) in both the difference and
the log; the other shares are not renormalized. ``(none)`` (no value) is a label like any other.
Flags: ``moderate`` at PSI ≥ 0.1, ``major`` at PSI ≥ 0.25, else ``none``.

**Score dimensions** are binned before PSI and the transition matrix: the edges are the
deciles of the *baseline* snapshot (the first one of the period that holds a numeric score
for the dimension), deduplicated, so ``<= e1``, ``(e1, e2]`` … ``> ek``; ``(none)`` stays its
own bin. Every snapshot and every transition of the dimension is binned with those same
edges; a move inside one bin is not a move of the report (left out of the matrix, the move
count and flapping; counted as ``moves_within_bins``).

**Initial load**: a transition out of ``(none)`` logged at an account's first evaluation of
a dimension (the first run, the first run the account appears in, or the first run a new
dimension is evaluated; the store's ``first_eval``) is the backfill, not a move: it is
counted per label as ``initial_load`` and never enters the matrix, the move count or
flapping. A value lost and regained later is a real move out of ``(none)``.

**Label order**: every label list, matrix and count mapping follows
:func:`crmseg.labels.label_order` — the dimension's declared ``values``, then other labels,
``(none)`` last; score bins ascend, ``(none)`` last.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any

from crmseg.labels import label_order
from crmseg.model import NONE_LABEL

EPS = 1e-4
MODERATE = 0.1
MAJOR = 0.25

Counts = Mapping[str, int]
Matrix = dict[str, dict[str, int]]


# ---------------------------------------------------------------- PSI
def psi(expected: Counts, actual: Counts, eps: float = EPS) -> float:
    """PSI of ``actual`` against ``expected`` (label -> count); zero shares become ``eps``.

    Raises ValueError when either distribution holds no accounts.
    """
    te = sum(max(int(n), 0) for n in expected.values())
    ta = sum(max(int(n), 0) for n in actual.values())
    if te <= 0 or ta <= 0:
        raise ValueError("PSI needs two non-empty distributions")
    total = 0.0
    for label in set(expected) | set(actual):
        e = max(int(expected.get(label, 0)), 0) / te or eps
        a = max(int(actual.get(label, 0)), 0) / ta or eps
        total += (a - e) * math.log(a / e)
    return total


def flag(value: float | None) -> str:
    """``"major"`` at ≥ 0.25, ``"moderate"`` at ≥ 0.1, else ``"none"`` (also for no PSI)."""
    if value is None:
        return "none"
    if value >= MAJOR:
        return "major"
    if value >= MODERATE:
        return "moderate"
    return "none"


# ---------------------------------------------------------------- score binning
def number(label: str | None) -> float | None:
    """A score label as a number; None for ``(none)``, no value or text."""
    if label is None or label == NONE_LABEL:
        return None
    try:
        value = float(label)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def numeric_dimensions(snapshots: Mapping[Any, Mapping[str, Counts]]) -> set[str]:
    """Dimensions whose every non-``(none)`` label in every snapshot is a number (and some is)."""
    numeric: dict[str, bool] = {}
    scored: set[str] = set()
    for dims in snapshots.values():
        for dim, counts in dims.items():
            labels = [k for k in counts if k != NONE_LABEL]
            numeric[dim] = numeric.get(dim, True) and all(number(k) is not None for k in labels)
            if labels:
                scored.add(dim)
    return {d for d, ok in numeric.items() if ok and d in scored}


def decile_edges(counts: Counts) -> list[float]:
    """Deduplicated decile edges of a score distribution (the ``(none)`` and text labels left out).

    The k-th decile is the smallest score whose cumulative count reaches k/10 of the scored
    accounts.
    """
    values = sorted((v, int(n)) for k, n in counts.items() if (v := number(k)) is not None and int(n) > 0)
    total = sum(n for _, n in values)
    if not total:
        return []
    edges: list[float] = []
    cum, i = 0, 0
    for k in range(1, 10):
        while cum * 10 < k * total:  # integer test: cum / total >= k / 10
            cum += values[i][1]
            i += 1
        edge = values[i - 1][0]
        if not edges or edge != edges[-1]:
            edges.append(edge)
    return edges


def fmt_number(value: float) -> str:
    """A number as a short label: ``35`` not ``35.0``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Bins:
    """Score bins from ascending edges: ``<= e1``, ``(e1, e2]`` … ``> ek``; ``(none)`` apart."""

    edges: tuple[float, ...]

    @cached_property
    def labels(self) -> list[str]:
        """The bin labels in ascending order (``(none)`` not included)."""
        e = [fmt_number(x) for x in self.edges]
        if not e:
            return ["scored"]
        return [f"<= {e[0]}", *(f"({a}, {b}]" for a, b in pairwise(e)), f"> {e[-1]}"]

    def label_of(self, label: str | None) -> str:
        """The bin of one score label; ``(none)`` for no value; a non-numeric label is kept."""
        if label is None or label == NONE_LABEL:
            return NONE_LABEL
        value = number(label)
        if value is None:
            return label
        for i, edge in enumerate(self.edges):
            if value <= edge:
                return self.labels[i]
        return self.labels[-1]

    def bin_counts(self, counts: Counts) -> dict[str, int]:
        """Counts per bin (bins with no account left out), in bin order."""
        out: dict[str, int] = {}
        for label, n in counts.items():
            b = self.label_of(label)
            out[b] = out.get(b, 0) + int(n)
        order = {b: i for i, b in enumerate([*self.labels, NONE_LABEL])}
        return {b: out[b] for b in sorted(out, key=lambda b: (order.get(b, len(order)), b)) if out[b]}


# ---------------------------------------------------------------- transitions
def _get(obj: Any, *names: str) -> Any:
    """The first of ``names`` found on a record object or in a mapping."""
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj:
                return obj[name]
        elif hasattr(obj, name):
            return getattr(obj, name)
    return None


def _text(value: Any) -> str:
    """A transition value as a label: ``(none)`` for no value."""
    return NONE_LABEL if value is None else str(value)


def transition_matrix(transitions: Iterable[Any], bin_of: Callable[[str | None], str] | None = None) -> Matrix:
    """``{FROM: {TO: n}}`` over transitions (records or mappings with ``from_value``/``to_value``).

    ``None`` becomes ``(none)``; ``bin_of`` maps a value to its bin (score dimensions).
    """
    out: Matrix = {}
    for t in transitions:
        frm, to = _get(t, "from_value", "from"), _get(t, "to_value", "to")
        a = bin_of(frm) if bin_of else _text(frm)
        b = bin_of(to) if bin_of else _text(to)
        row = out.setdefault(a, {})
        row[b] = row.get(b, 0) + 1
    return out


def is_initial_load(t: Any) -> bool:
    """A transition out of ``(none)`` logged at the account's first evaluation of its dimension."""
    frm = _get(t, "from_value", "from")
    return bool(_get(t, "first_eval")) and (frm is None or frm == NONE_LABEL)


def flapping(
    transitions: Iterable[Any],
    min_moves: int = 2,
    top: int = 10,
    bin_of: Callable[[str | None], str] | None = None,
) -> list[dict[str, Any]]:
    """The accounts of one dimension that moved most often (at least ``min_moves`` times).

    Each: ``{"account", "moves", "path": [value, ...], "last_at"}``; the path follows the log
    order (a move whose start differs from the previous end adds that start too); ``bin_of``
    maps each value to its bin (score dimensions). Most moves first, then account id; at most ``top``.
    """
    label = bin_of or _text
    moves: dict[str, list[Any]] = {}
    for t in transitions:
        moves.setdefault(str(_get(t, "account")), []).append(t)
    out = []
    for account, ts in moves.items():
        if len(ts) < min_moves:
            continue
        path = [label(_get(ts[0], "from_value", "from"))]
        for t in ts:
            frm, to = label(_get(t, "from_value", "from")), label(_get(t, "to_value", "to"))
            if frm != path[-1]:
                path.append(frm)
            path.append(to)
        out.append({"account": account, "moves": len(ts), "path": path, "last_at": _get(ts[-1], "at")})
    out.sort(key=lambda f: (-f["moves"], f["account"]))
    return out[:top]


def flapping_accounts(report: Mapping[str, Any]) -> set[str]:
    """The account ids a drift report's flapping lists name."""
    return {str(f["account"]) for d in report.get("dimensions", {}).values() for f in d.get("flapping", [])}


def attach_names(report: dict[str, Any], names: Mapping[str, Mapping[str, str]]) -> None:
    """Add ``name`` and ``domain`` (where known) beside each flapping account's id, in place."""
    for d in report.get("dimensions", {}).values():
        for f in d.get("flapping", []):
            f.update(names.get(str(f["account"]), {}))


# ---------------------------------------------------------------- the report
def _in_order(counts: Mapping[str, int], labels: Sequence[str]) -> dict[str, int]:
    """``counts`` with its keys in ``labels`` order (any other key after)."""
    rank = {k: n for n, k in enumerate(labels)}
    return dict(sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def drift_report(
    runs: Sequence[Any],
    snapshots: Mapping[int, Mapping[str, Counts]],
    transitions: Sequence[Any],
    score_dims: Iterable[str] = (),
    *,
    values: Mapping[str, Sequence[str]] | None = None,
    top: int = 10,
    min_moves: int = 2,
    eps: float = EPS,
) -> dict[str, Any]:
    """The ``drift --json`` document for one sync over a period.

    ``runs``: run records or mappings (``id``, ``started_at``, ``status`` …) of the period;
    those without a snapshot (failed, aborted) are left out of ``"runs"``. ``snapshots``:
    ``{run_id: {dimension: {label: n}}}``. ``transitions``: the moves logged by the period's
    runs (``first_eval`` marks the initial load). ``score_dims``: dimensions to bin (see the
    module doc). ``values``: each label dimension's declared values, for the label order.
    """
    declared = values or {}
    scores = set(score_dims)
    kept = sorted((r for r in runs if snapshots.get(int(_get(r, "id")))), key=lambda r: int(_get(r, "id")))
    ids = [int(_get(r, "id")) for r in kept]
    by_dim: dict[str, list[Any]] = {}
    for t in transitions:
        by_dim.setdefault(str(_get(t, "dimension")), []).append(t)
    names = sorted({d for i in ids for d in snapshots[i]} | set(by_dim))

    bins: dict[str, Bins] = {}
    baseline: dict[str, int | None] = {}
    for dim in names:
        if dim in scores:
            first_scored = next((i for i in ids if any(number(k) is not None for k in snapshots[i].get(dim, {}))), None)
            baseline[dim] = first_scored
            base = snapshots[first_scored][dim] if first_scored is not None else {}
            bins[dim] = Bins(tuple(decile_edges(base)))

    def counts_of(run_id: int, dim: str) -> dict[str, int]:
        raw = snapshots[run_id].get(dim, {})
        return bins[dim].bin_counts(raw) if dim in bins else {k: int(n) for k, n in raw.items()}

    dims: dict[str, Any] = {}
    for dim in names:
        having = [i for i in ids if dim in snapshots[i]]
        first = counts_of(having[0], dim) if having else {}
        last = counts_of(having[-1], dim) if having else {}
        value = psi(first, last, eps) if having and sum(first.values()) and sum(last.values()) else None
        bin_of = bins[dim].label_of if dim in bins else _text
        logged = by_dim.get(dim, [])
        initial = [t for t in logged if is_initial_load(t)]
        moved = [t for t in logged if not is_initial_load(t)]
        moves = [t for t in moved if bin_of(_get(t, "from_value", "from")) != bin_of(_get(t, "to_value", "to"))]
        matrix = transition_matrix(moves, bin_of)
        loaded: dict[str, int] = {}
        for t in initial:
            b = bin_of(_get(t, "to_value", "to"))
            loaded[b] = loaded.get(b, 0) + 1
        seen = {k for i in having for k in counts_of(i, dim)} | set(matrix) | set(loaded)
        seen |= {k for row in matrix.values() for k in row}
        if dim in bins:
            order = [b for b in [*bins[dim].labels, NONE_LABEL] if b in seen]
            labels = order + label_order(seen - set(order))
        else:
            labels = label_order(seen, declared.get(dim), last or first)
        rank = {k: n for n, k in enumerate(labels)}

        def ordered(counts: Mapping[str, int], rank: dict[str, int] = rank) -> dict[str, int]:
            return dict(sorted(counts.items(), key=lambda kv: rank[kv[0]]))

        d: dict[str, Any] = {
            "kind": "score" if dim in bins else "label",
            "psi": value,
            "flag": flag(value),
            "from_run": having[0] if having else None,
            "to_run": having[-1] if having else None,
            "first": ordered(first),
            "last": ordered(last),
            "labels": labels,
            "transitions": {a: ordered(row) for a, row in sorted(matrix.items(), key=lambda kv: rank[kv[0]])},
            "moves": len(moves),
            "initial_load": ordered(loaded),
            "flapping": flapping(moves, min_moves, top, bin_of if dim in bins else None),
        }
        if dim in bins:
            d["moves_within_bins"] = len(moved) - len(moves)
            d["bins"] = {
                "edges": list(bins[dim].edges),
                "labels": bins[dim].labels,
                "baseline_run": baseline[dim],
                "method": "deciles of the baseline snapshot",
            }
        dims[dim] = d

    out_runs = []
    for r, i in zip(kept, ids, strict=True):
        entry: dict[str, Any] = {
            "id": i,
            "at": _get(r, "started_at", "at"),
            "status": _get(r, "status"),
            "counts": {d: _in_order(counts_of(i, d), dims[d]["labels"]) for d in names if d in snapshots[i]},
        }
        raw_scores = {d: dict(snapshots[i][d]) for d in names if d in bins and d in snapshots[i]}
        if raw_scores:
            entry["score_counts"] = raw_scores
        if _get(r, "drift_alert"):
            entry["drift_alert"] = _get(r, "drift_alert")
        out_runs.append(entry)

    kept_ids = set(ids)
    skipped = [
        {"id": int(_get(r, "id")), "at": _get(r, "started_at", "at"), "status": _get(r, "status")}
        for r in sorted(runs, key=lambda r: int(_get(r, "id")))
        if int(_get(r, "id")) not in kept_ids
    ]
    return {
        "runs": out_runs,
        "skipped_runs": skipped,
        "first_run": ids[0] if ids else None,
        "last_run": ids[-1] if ids else None,
        "psi": {"epsilon": eps, "moderate": MODERATE, "major": MAJOR},
        "dimensions": dims,
    }


def snapshot_psi(
    before: Mapping[str, Counts], after: Mapping[str, Counts], score_dims: Iterable[str] = ()
) -> dict[str, float]:
    """PSI per dimension between two snapshots (scores binned on ``before``'s deciles)."""
    scores = set(score_dims)
    out: dict[str, float] = {}
    for dim, cur in after.items():
        prev = before.get(dim)
        if not prev:
            continue
        if dim in scores:
            bins = Bins(tuple(decile_edges(prev)))
            prev, cur = bins.bin_counts(prev), bins.bin_counts(cur)
        out[dim] = psi(prev, cur)
    return out
