"""The review of the inputs (:func:`crmseg.review.assemble.assemble_with_trend`, pure) and its
``review --json`` document."""

from __future__ import annotations

from typing import Any

from crmseg.review.assemble import ReviewInputs
from crmseg.review.result import Review
from crmseg.reviewing.request import ReviewRequest, settings_of

__all__ = ["TREND_PERIODS", "review_document"]

#: Periods in the quarter-by-quarter trend (the review's period last).
TREND_PERIODS = 6


def review_document(inputs: ReviewInputs, request: ReviewRequest, source: str) -> tuple[Review, dict[str, Any]]:
    """The review of ``inputs`` and its ``review --json`` document: the spec's keys, plus
    ``source``, ``attribute``, ``min_closed`` and ``quarters`` (the win rate per label over the last
    periods)."""
    from crmseg.review.assemble import assemble_with_trend, periods_before

    spans = periods_before(inputs.period, TREND_PERIODS, request.settings.fiscal_year_start_month)
    review, trend = assemble_with_trend(inputs, spans, settings_of(request.settings))
    doc = {
        "source": source,
        "attribute": inputs.dimensions[0].attribution.mode if inputs.dimensions else request.attribute or "created",
        **review.to_json(),
        "min_closed": request.settings.min_closed,
        "quarters": trend,
    }
    return review, doc
