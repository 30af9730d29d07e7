"""Is each segment label still a segment worth having? MASDA, per label (pure).

- **measurable**: the share of the label's accounts whose every field its rules read is present;
- **accessible**: the share with an owner and activity in the last 90 days (the caller decides
  both from configurable fields; None when it cannot tell);
- **substantial**: the label's share of the accounts, beside its share of the won amount in the
  period; substantial when either reaches ``min_segment_size`` (a fraction, default 5%);
- **differentiable**: whether the label converts unlike every other one — per pair of
  sufficient labels, win rate (Fisher exact, two-sided), won deal size and won cycle
  (Mann–Whitney, two-sided); a pair *differs* when the smallest of its available p-values is
  below ``alpha`` / their number (Bonferroni, which for "any of them" is Holm's rule). Pairs
  that do not differ are named as merge candidates. *Not differing is not proof of sameness*:
  it says the data cannot tell them apart;
- **actionable** is a judgement: shown as not measured.

Verdict: ``not_viable`` when the label is not substantial; ``watch`` when it cannot be told
apart from another label, is measurable or accessible below the thresholds, or has too few
closed deals to judge; ``viable`` otherwise. ``reasons`` say which, in words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Final, Literal

from crmseg.review.metrics import MIN_CLOSED, Deals, Samples, label_samples
from crmseg.review.period import Period
from crmseg.review.stats import fisher_p, mann_whitney_p

__all__ = ["NOT_MEASURED", "AccountFacts", "LabelViability", "PairTest", "Verdict", "Viability", "viability"]

Verdict = Literal["viable", "watch", "not_viable"]
NOT_MEASURED: Final = "not measured"


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What viability needs of one account holding ``label`` at the period's end."""

    account: str
    label: str
    measurable: bool  # every field the label's rules read is present
    accessible: bool | None = None  # an owner and recent activity; None: not known


@dataclass(frozen=True, slots=True)
class PairTest:
    """Two sufficient labels compared: the three p-values (None where a sample is empty) and
    whether they differ (see the module's docstring)."""

    a: str
    b: str
    win_rate_p: float | None
    deal_size_p: float | None
    cycle_p: float | None
    differs: bool

    def to_json(self) -> dict[str, Any]:
        """The pair as JSON."""
        return {
            "labels": [self.a, self.b],
            "win_rate_p": self.win_rate_p,
            "deal_size_p": self.deal_size_p,
            "cycle_p": self.cycle_p,
            "differs": self.differs,
        }


@dataclass(frozen=True, slots=True)
class LabelViability:
    """One label's MASDA scorecard."""

    measurable: float | None
    accessible: float | None
    substantial: float | None  # share of accounts
    won_amount_share: float | None
    differentiable: bool | None  # None: too few closed deals (here or in every other label) to judge
    merge_with: tuple[str, ...]
    verdict: Verdict
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The spec's keys (plus ``won_amount_share``, ``merge_with`` and ``actionable``)."""
        return {
            "measurable": self.measurable,
            "accessible": self.accessible,
            "substantial": self.substantial,
            "differentiable": self.differentiable,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "won_amount_share": self.won_amount_share,
            "merge_with": list(self.merge_with),
            "actionable": NOT_MEASURED,
        }


@dataclass(frozen=True, slots=True)
class Viability:
    """Every label's scorecard in one dimension, and the pairwise tests behind ``differentiable``."""

    labels: dict[str, LabelViability]
    pairs: tuple[PairTest, ...]

    def to_json(self) -> dict[str, Any]:
        """``{LABEL: {...}}`` as the spec's ``viability[DIM]``."""
        return {k: v.to_json() for k, v in self.labels.items()}

    def merge_candidates(self) -> list[tuple[str, str]]:
        """The pairs that cannot be told apart."""
        return [(p.a, p.b) for p in self.pairs if not p.differs]


def _pair(a: str, b: str, x: Samples, y: Samples, alpha: float) -> PairTest:
    win = fisher_p(x.won, x.lost, y.won, y.lost)
    size = mann_whitney_p(x.won_amounts, y.won_amounts)
    cycle = mann_whitney_p(x.cycles, y.cycles)
    known = [p for p in (win, size, cycle) if p is not None]
    return PairTest(a, b, win, size, cycle, bool(known) and min(known) < alpha / len(known))


def _pct(x: float) -> str:
    return f"{x:.0%}"


def viability(
    deals: Deals,
    period: Period,
    facts: Iterable[AccountFacts],
    *,
    min_segment_size: float = 0.05,
    min_closed: int = MIN_CLOSED,
    alpha: float = 0.05,
    measurable_min: float = 0.9,
    accessible_min: float = 0.5,
) -> Viability:
    """MASDA per label of one segment dimension over ``period`` (see the module's docstring).
    Labels: those of ``facts`` and of the deals, sorted."""
    samples: Mapping[str, Samples] = label_samples(deals, period)
    held: defaultdict[str, list[AccountFacts]] = defaultdict(list)
    for f in facts:
        held[f.label].append(f)
    total_accounts = sum(len(v) for v in held.values())
    total_won = sum(sum(s.won_amounts) for s in samples.values())
    judged = sorted(k for k, s in samples.items() if s.won + s.lost >= min_closed)
    pairs = tuple(_pair(a, b, samples[a], samples[b], alpha) for a, b in combinations(judged, 2))
    out: dict[str, LabelViability] = {}
    for label in sorted(set(held) | set(samples)):
        mine = held.get(label, [])
        s = samples.get(label, Samples())
        measurable = sum(f.measurable for f in mine) / len(mine) if mine else None
        known = [f.accessible for f in mine if f.accessible is not None]
        accessible = sum(known) / len(known) if known else None
        share = len(mine) / total_accounts if total_accounts else None
        won_share = sum(s.won_amounts) / total_won if total_won else None
        merge = tuple(p.b if p.a == label else p.a for p in pairs if label in (p.a, p.b) and not p.differs)
        others = [p for p in pairs if label in (p.a, p.b)]
        differentiable = None if not others else not merge
        reasons: list[str] = []
        verdict: Verdict = "viable"
        shares = [x for x in (share, won_share) if x is not None]
        if shares and max(shares) < min_segment_size:
            verdict = "not_viable"
            reasons.append(
                f"too small: {_pct(share or 0)} of accounts and {_pct(won_share or 0)} of won amount "
                f"(minimum {_pct(min_segment_size)})"
            )
        watch: list[str] = []
        if differentiable is False:
            watch.append(f"converts like {', '.join(merge)}: cannot be told apart (merge candidate)")
        elif differentiable is None:
            watch.append(
                f"too few closed deals to judge ({s.won + s.lost}; minimum {min_closed} here and in another label)"
            )
        if measurable is not None and measurable < measurable_min:
            watch.append(f"measurable for only {_pct(measurable)} of its accounts (minimum {_pct(measurable_min)})")
        if accessible is not None and accessible < accessible_min:
            watch.append(f"accessible for only {_pct(accessible)} of its accounts (minimum {_pct(accessible_min)})")
        if watch and verdict == "viable":
            verdict = "watch"
        reasons += watch
        reasons.append("actionable: not measured (a judgement)")
        out[label] = LabelViability(
            measurable, accessible, share, won_share, differentiable, merge, verdict, tuple(reasons)
        )
    return Viability(out, pairs)
