"""Audit summary: the results of one run built on its streaming counters.

- the counting itself (labels, rule hits, would-change counts and moves, score stats, the
  segment x tier crosstab): :mod:`crmseg.audit.counting`, which ``AuditSummary`` extends;
- the segmentation-practice warnings and their thresholds: :mod:`crmseg.audit.checks`;
- here: data quality of the used fields, the run's metadata, skipped rows, the change guard's
  verdict, counts in report order and the spec's JSON document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

from crmseg.audit.checks import (
    DOMINANT_SHARE,
    MAX_LABELS,
    NO_VALUE_SHARE,
    label_warnings,
    min_segment_threshold,
    size_checked,
)
from crmseg.audit.counting import Counters, DimInfo, DimStats
from crmseg.audit.guard import GuardCheck
from crmseg.labels import label_order
from crmseg.model import NONE_LABEL
from crmseg.tags import CHANGE_KINDS

SKIPPED_LISTED = 100  # skipped input rows named in the JSON report (all are counted)


def _jsonable(value: Any) -> Any:
    """Metadata values as JSON types (paths and datetimes become text)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class AuditSummary(Counters):
    """Counts, rule hits, would-change counts, data quality and warnings of one run."""

    def __init__(
        self,
        dimensions: Sequence[DimInfo],
        used_fields: Sequence[str],
        min_segment_size: int | None = None,
    ) -> None:
        super().__init__(dimensions)
        names = {d.name for d in self._dimensions}
        # A rule reading another dimension is not a data field: no quality row for it.
        self.used_fields: list[str] = [f for f in dict.fromkeys(used_fields) if f not in names]
        self.min_segment_size = min_segment_size
        #: The change guard's verdict on this audit (set by the caller when the sync has one).
        self.guard: GuardCheck | None = None
        self.quality: dict[str, dict[str, int]] = {}
        #: "file:line: problem" of each input row left out (``--skip-bad-rows``).
        self.skipped_rows: list[str] = []
        self.warnings: list[str] = []
        #: Shown first in every report: the rules' failing inline tests and lint warnings.
        self.failed_tests: list[str] = []
        self.rule_warnings: list[str] = []
        self.finished = False
        #: Filled by the caller: source, rules_dir, engine, started_at, duration_s, mapping.
        self.metadata: dict[str, Any] = {}

    def finish(self, quality: Mapping[str, Mapping[str, int]], extra_warnings: Sequence[str] = ()) -> None:
        """Keep data quality of the used fields and compute the warnings."""
        self.quality = {
            f: {
                "missing": int((quality.get(f) or {}).get("missing", 0)),
                "invalid": int((quality.get(f) or {}).get("invalid", 0)),
            }
            for f in self.used_fields
        }
        self.warnings = self._compute_warnings() + [str(w) for w in extra_warnings]
        self.finished = True

    # -- results -----------------------------------------------------------------------

    @property
    def segment_threshold(self) -> int:
        """The label size below which a label is reported as too small."""
        return min_segment_threshold(self.accounts, self.min_segment_size)

    @property
    def segment_size_checked(self) -> bool:
        """Whether the small-label check applies to this run (see :mod:`crmseg.audit.checks`)."""
        return size_checked(self.accounts, self.segment_threshold)

    def counts(self, dim: str) -> dict[str, int]:
        """Value -> accounts of one dimension, allow-list values first, ``(none)`` last."""
        d = self._dim(dim)
        out: dict[str, int] = {}
        if d.kind == "score":
            keys = [k for k in d.counts if k != NONE_LABEL]
            for k in sorted(keys, key=_numeric_key):
                out[k] = d.counts[k]
        else:
            for k in label_order([*d.values, *(k for k in d.counts if k != NONE_LABEL)], d.values, d.counts):
                out[k] = d.counts.get(k, 0)
        out[NONE_LABEL] = d.counts.get(NONE_LABEL, 0)
        return out

    def _dim(self, name: str) -> DimStats:
        for d in self.dimensions:
            if d.name == name:
                return d
        raise KeyError(name)

    def _compute_warnings(self) -> list[str]:
        """Segmentation-practice warnings, in dimension order (:func:`crmseg.audit.checks.label_warnings`)."""
        return label_warnings(self.dimensions, self.accounts, self.min_segment_size)

    def to_json(self) -> dict[str, Any]:
        """The spec's JSON document (plus ``run``, ``thresholds`` and per-dimension extras)."""
        dims: dict[str, Any] = {}
        for d in self.dimensions:
            entry: dict[str, Any] = {
                "kind": d.kind,
                "description": d.description,
                "counts": self.counts(d.name),
                "rules": (hits := d.hits),
                "never_fired": [r for r, h in hits.items() if h == 0],
                "values": list(d.values),
                "ordered": d.ordered,
                "moves": [
                    {"from": a, "to": b, "accounts": n}
                    for (a, b), n in sorted(d.moves.items(), key=lambda m: (-m[1], m[0]))
                ],
            }
            if d.kind == "score":
                entry["stats"] = (
                    {"min": _num(d.vmin), "max": _num(d.vmax), "mean": round((d.vsum + d.isum) / d.vnum, 4)}
                    if d.vnum
                    else {"min": None, "max": None, "mean": None}
                )
            dims[d.name] = entry
        warnings = self.warnings if self.finished else self._compute_warnings()
        return {
            "accounts": self.accounts,
            "run": _jsonable(self.metadata),
            "dimensions": dims,
            # d.changes has a fifth count (pinned, would differ) past the four kinds: listed under "pinned"
            "changes": {d.name: dict(zip(CHANGE_KINDS, d.changes, strict=False)) for d in self.dimensions},
            "pinned": {"accounts": self.pinned, "would_change": {d.name: d.changes[4] for d in self.dimensions}},
            "quality": {f: dict(q) for f, q in self.quality.items()},
            "skipped_rows": {"count": len(self.skipped_rows), "rows": self.skipped_rows[:SKIPPED_LISTED]},
            "warnings": list(warnings),
            "crosstab": None
            if self._cross is None
            else {
                "rows": self.dimensions[self._cross[0]].name,
                "cols": self.dimensions[self._cross[1]].name,
                "cells": [{"row": a, "col": b, "accounts": n} for (a, b), n in sorted(self.crosstab.items())],
            },
            "guard": self.guard.to_json() if self.guard is not None else None,
            "failed_tests": list(self.failed_tests),
            "rule_warnings": list(self.rule_warnings),
            "thresholds": {
                "max_labels": MAX_LABELS,
                "min_segment_size": self.segment_threshold,
                "min_segment_size_checked": self.segment_size_checked,
                "dominant_share": DOMINANT_SHARE,
                "no_value_share": NO_VALUE_SHARE,
            },
        }


def _num(v: float) -> int | float:
    """A stat as an int when integral (JSON readers see 42, not 42.0)."""
    return int(v) if float(v).is_integer() else v


def _numeric_key(text: str) -> tuple[int, float, str]:
    """Sort score texts numerically, anything non-numeric after."""
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)
