"""The dimensions a review covers, in order, and how each is reviewed: a score, a tier ladder
(``[review] ordered``) or a label, and whether it is a segment (``[review] segments``)."""

from __future__ import annotations

from dataclasses import dataclass

from crmseg.config.review import ReviewConfig
from crmseg.errors import ConfigError
from crmseg.review.assemble import DimensionKind
from crmseg.reviewing.request import ReviewRequest
from crmseg.rules.model import Dimension, RuleSet

__all__ = ["DimensionPlan", "plan_dimensions"]


def _ordered(rules: RuleSet, settings: ReviewConfig) -> tuple[str, ...]:
    """The tier ladders: ``[review] ordered``, else the label dimensions with values named like a tier."""
    if settings.ordered is not None:
        return settings.ordered
    return tuple(d.name for d in rules.dimensions if d.kind == "label" and d.values and "tier" in d.name)


def _segments(rules: RuleSet, settings: ReviewConfig) -> tuple[str, ...]:
    """The segment dimensions: ``[review] segments``, else the label dimensions named like a segment."""
    if settings.segments is not None:
        return settings.segments
    return tuple(d.name for d in rules.dimensions if d.kind == "label" and "segment" in d.name)


@dataclass(frozen=True, slots=True)
class DimensionPlan:
    """The reviewed dimensions, in order, with their kind, ladder and whether they are segments."""

    dimensions: list[Dimension]
    ordered: tuple[str, ...]
    segments: tuple[str, ...]

    def kind(self, d: Dimension) -> DimensionKind:
        if d.kind == "score":
            return "score"
        return "tiers" if d.name in self.ordered else "label"

    def ladder(self, d: Dimension) -> tuple[str, ...]:
        return tuple(d.values or ()) if d.name in self.ordered else ()

    def segment(self, d: Dimension) -> bool:
        return d.name in self.segments


def plan_dimensions(rules: RuleSet, request: ReviewRequest) -> DimensionPlan:
    """The reviewed dimensions; ConfigError naming an unknown one or a ladder without values."""
    known = rules.names
    settings = request.settings
    ordered, segments = _ordered(rules, settings), _segments(rules, settings)
    names = list(settings.dimensions or known)
    for where, wanted in (
        ("[review] dimensions", names),
        ("--by", list(request.by or ())),
        ("[review] ordered", list(ordered)),
        ("[review] segments", list(segments)),
    ):
        for name in wanted:
            if name not in known:
                raise ConfigError(f"{where}: no dimension {name!r} in the rules (allowed: {', '.join(known)})")
    if request.by:
        names = list(request.by)
    for name in ordered:
        d = rules.dimension(name)
        if d.kind != "label" or not d.values:
            raise ConfigError(
                f"[review] ordered: {name!r} needs to be a label dimension whose rule file lists its "
                "values, top tier first (values = [...])"
            )
    return DimensionPlan([rules.dimension(n) for n in dict.fromkeys(names)], ordered, segments)
