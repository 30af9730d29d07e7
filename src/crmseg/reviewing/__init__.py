"""``crmseg review``'s orchestration: read the deals, labels and account facts from a sync's state
(:mod:`crmseg.reviewing.from_state`) or from files (:mod:`crmseg.reviewing.from_files`), with the
checks, dimension plan and account facts both share (:mod:`~crmseg.reviewing.checks`,
:mod:`~crmseg.reviewing.dimensions`, :mod:`~crmseg.reviewing.facts`); choose the periods
(:mod:`crmseg.reviewing.periods`) and compute the review with the pure statistics of
:mod:`crmseg.review` (:mod:`crmseg.reviewing.document`). Reads only: never writes to a CRM or to
sync state.

It sits above ``sync`` in the layers so a later ``--refresh`` (the sync's deal read first) and
the daemon's scheduled review can use the sync service and the reports.
"""

from __future__ import annotations

from crmseg.reviewing.checks import customer_check
from crmseg.reviewing.document import review_document
from crmseg.reviewing.from_files import file_inputs
from crmseg.reviewing.from_state import state_inputs
from crmseg.reviewing.periods import choose_periods
from crmseg.reviewing.request import ReviewRequest, settings_of

__all__ = [
    "ReviewRequest",
    "choose_periods",
    "customer_check",
    "file_inputs",
    "review_document",
    "settings_of",
    "state_inputs",
]
