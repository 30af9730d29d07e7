"""Health: drift joined with outcomes, per label, in sentences (pure).

Per label: the accounts holding it at the period's start and end, the accounts that moved in
and out (transitions), and the win-rate trend (:class:`crmseg.review.metrics.Trend`); per
dimension the PSI of its label distribution (start vs end, ``crmseg.drift``). All are plain
inputs; this module only joins them and says it in words, e.g. "Mid-Market grew 12% (+30 in,
−6 out) and its win rate fell from 31% to 19% (p = 0.01)".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crmseg.drift.measures import flag as psi_flag
from crmseg.review.metrics import DimensionMetrics, LabelMetrics

__all__ = ["Health", "HealthLine", "LabelDrift", "health"]


@dataclass(frozen=True, slots=True)
class LabelDrift:
    """One label's movement over the period."""

    label: str
    accounts_start: int
    accounts_end: int
    moved_in: int = 0
    moved_out: int = 0


@dataclass(frozen=True, slots=True)
class HealthLine:
    """One label's health: its drift, its win rate now and before, and the sentence."""

    label: str
    drift: LabelDrift
    growth: float | None  # (end − start) / start; None for a label with no account at the start
    win_rate: float | None
    previous_win_rate: float | None
    p: float | None
    flag: str | None
    sentence: str

    def to_json(self) -> dict[str, Any]:
        """The line as JSON."""
        d = self.drift
        return {
            "accounts_start": d.accounts_start,
            "accounts_end": d.accounts_end,
            "in": d.moved_in,
            "out": d.moved_out,
            "growth": self.growth,
            "win_rate": self.win_rate,
            "previous_win_rate": self.previous_win_rate,
            "p": self.p,
            "flag": self.flag,
            "sentence": self.sentence,
        }


@dataclass(frozen=True, slots=True)
class Health:
    """A dimension's PSI and its labels' health lines."""

    dimension: str
    psi: float | None
    lines: tuple[HealthLine, ...]

    @property
    def sentences(self) -> list[str]:
        """The dimension's PSI sentence (when known) and every label's sentence."""
        head = []
        if self.psi is not None:
            head.append(f"{self.dimension}: PSI {self.psi:.2f} ({psi_flag(self.psi)} shift) over the period")
        return head + [line.sentence for line in self.lines]

    def to_json(self) -> dict[str, Any]:
        """``{"psi", "psi_flag", "labels": {LABEL: {...}}, "sentences"}``."""
        return {
            "psi": self.psi,
            "psi_flag": psi_flag(self.psi) if self.psi is not None else None,
            "labels": {line.label: line.to_json() for line in self.lines},
            "sentences": self.sentences,
        }


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _p(p: float | None) -> str:
    return "" if p is None else f" (p = {p:.2g})"


def _size(d: LabelDrift, growth: float | None) -> str:
    moves = f" (+{d.moved_in} in, −{d.moved_out} out)" if d.moved_in or d.moved_out else ""
    if growth is None:
        return f"{d.label} is new with {d.accounts_end} accounts{moves}"
    if d.accounts_end == d.accounts_start:
        return f"{d.label} held at {d.accounts_end} accounts{moves}"
    verb = "grew" if growth > 0 else "shrank"
    return f"{d.label} {verb} {_pct(abs(growth))}{moves}"


def _outcome(m: LabelMetrics | None) -> str:
    if m is None or m.closed == 0:
        return "it closed no deals in the period"
    rate = m.win_rate
    assert rate is not None  # (closed deals exist)
    t = m.trend
    if t is None:
        return f"its win rate is {_pct(rate)}"
    if t.flag == "insufficient":
        return f"it has too few closed deals to judge its win rate ({_pct(rate)} of {m.closed})"
    before = "n/a" if t.previous_win_rate is None else _pct(t.previous_win_rate)
    if t.flag == "decaying":
        return f"its win rate fell from {before} to {_pct(rate)}{_p(t.p)}"
    if t.flag == "improving":
        return f"its win rate rose from {before} to {_pct(rate)}{_p(t.p)}"
    return f"its win rate is {_pct(rate)}, against {before} before — no significant change{_p(t.p)}"


def health(metrics: DimensionMetrics, drift: Iterable[LabelDrift], psi: float | None = None) -> Health:
    """Each label's health line (labels of ``drift``, then labelled metrics without drift)."""
    lines: list[HealthLine] = []
    given = {d.label: d for d in drift}
    for label in [*given, *(k for k in metrics.labels if k not in given)]:
        d = given.get(label, LabelDrift(label, 0, 0))
        m = metrics.labels.get(label)
        growth = (d.accounts_end - d.accounts_start) / d.accounts_start if d.accounts_start else None
        t = m.trend if m is not None else None
        sentence = f"{_size(d, growth)} and {_outcome(m)}."
        lines.append(
            HealthLine(
                label,
                d,
                growth,
                m.win_rate if m else None,
                t.previous_win_rate if t else None,
                t.p if t else None,
                t.flag if t else None,
                sentence,
            )
        )
    return Health(metrics.dimension, psi, tuple(lines))
