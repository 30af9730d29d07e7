"""What one review covers (:class:`ReviewRequest`: periods, dimensions, attribution, clock and the
``[review]`` settings), and the figures of ``[review]`` the statistics use (:func:`settings_of`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crmseg.config.review import ReviewConfig
from crmseg.deals import AttributeMode
from crmseg.review.assemble import ReviewSettings
from crmseg.review.period import Period

__all__ = ["ReviewRequest", "settings_of"]


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """What one review covers: its periods, dimensions (None: the configured ones), attribution
    mode, the clock of a current evaluation, and the ``[review]`` settings."""

    period: Period
    compare: Period | None
    settings: ReviewConfig
    by: tuple[str, ...] | None = None
    attribute: AttributeMode | None = None  # None: created (the default), not asked for
    as_of: datetime | None = None


def settings_of(cfg: ReviewConfig) -> ReviewSettings:
    """The figures the statistics use, from ``[review]``."""
    a = cfg.alerts
    return ReviewSettings(cfg.min_closed, a.alpha, cfg.min_segment_size, a.decaying, a.out_of_order)
