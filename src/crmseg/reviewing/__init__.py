"""``crmseg review``'s orchestration: read the deals, labels and account facts from a sync's state
or from files (:mod:`crmseg.reviewing.source`), choose the periods
(:mod:`crmseg.reviewing.periods`) and compute the review with the pure statistics of
:mod:`crmseg.review`. Reads only: never writes to a CRM or to sync state.

It sits above ``sync`` in the layers so a later ``--refresh`` (the sync's deal read first) and
the daemon's scheduled review can use the sync service and the reports.
"""

from __future__ import annotations

from crmseg.reviewing.periods import choose_periods
from crmseg.reviewing.source import (
    ReviewRequest,
    customer_check,
    file_inputs,
    review_document,
    settings_of,
    state_inputs,
)

__all__ = [
    "ReviewRequest",
    "choose_periods",
    "customer_check",
    "file_inputs",
    "review_document",
    "settings_of",
    "state_inputs",
]
