"""The audit's segmentation-practice checks (spec "Audit output"): the thresholds, the
warnings ``AuditSummary.finish`` computes from the label counts, and the share texts they
(and the reports) show.


- **too many labels** — a segment dimension (a label dimension whose name
  contains "segment") with more than 6 labels in use (held by at least one
  account; ``(none)`` is not a label). Tiers and journey stages are ordered
  scales, not segments: the shipped stage dimension has 7 stages by design.
- **small label** — a label in use holding fewer than ``min_segment_size``
  accounts. Default: the larger of 1% of the accounts (rounded up) and 20, so a
  segment must be both material (1%) and big enough to act on (20). The check is
  skipped when the run has fewer accounts than the threshold: no label could
  reach it, so the warning would carry no information. Labels of the allow-list
  that no account holds are listed in the counts with 0, not warned about.
- **dominant label** — one label holding over 80% of the accounts.
- **no value** — more than 20% of the accounts without a value (label
  dimensions; a score always has a value).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from crmseg.audit.counting import DimStats
from crmseg.model import NONE_LABEL

MAX_LABELS = 6
DEFAULT_MIN_SEGMENT_SHARE = 0.01
DEFAULT_MIN_SEGMENT_ACCOUNTS = 20
DOMINANT_SHARE = 0.80
NO_VALUE_SHARE = 0.20


def min_segment_threshold(accounts: int, min_segment_size: int | None = None) -> int:
    """The smallest label size that passes: explicit, or max(ceil(1% of accounts), 20)."""
    if min_segment_size is not None:
        return int(min_segment_size)
    return max(math.ceil(accounts * DEFAULT_MIN_SEGMENT_SHARE), DEFAULT_MIN_SEGMENT_ACCOUNTS)


def share_text(part: int, whole: int) -> str:
    """A share as text: one decimal, never rounded to a misleading 0% or 100%."""
    if whole <= 0:
        return "0%"
    share = 100.0 * part / whole
    text = f"{share:.1f}"
    if text == "0.0" and part > 0:
        return "<0.1%"
    if text == "100.0" and part < whole:
        return ">99.9%"
    return f"{text.removesuffix('.0')}%"


def size_checked(accounts: int, threshold: int) -> bool:
    """Whether the small-label check applies to a run (see the module's docstring)."""
    return accounts > 0 and accounts >= threshold


def label_warnings(dimensions: Sequence[DimStats], accounts: int, min_segment_size: int | None = None) -> list[str]:
    """Segmentation-practice warnings, in dimension order."""
    n = accounts
    out: list[str] = []
    if n == 0:
        return out
    threshold = min_segment_threshold(n, min_segment_size)
    how = "min_segment_size" if min_segment_size is not None else "default: 1% of accounts, at least 20"
    for d in dimensions:
        none = d.counts.get(NONE_LABEL, 0)
        if d.kind == "score":
            continue
        in_use = sorted(
            ((c, k) for k, c in d.counts.items() if k != NONE_LABEL and c > 0), key=lambda ck: (-ck[0], ck[1])
        )
        if "segment" in d.name and len(in_use) > MAX_LABELS:
            out.append(
                f"{d.name}: {len(in_use)} labels in use, more than {MAX_LABELS}; "
                f"a segment dimension is hard to act on with that many labels"
            )
        if size_checked(n, threshold):
            for c, k in sorted(in_use, key=lambda ck: (ck[0], ck[1])):
                if c < threshold:
                    out.append(
                        f"{d.name}: label '{k}' holds {c:,} accounts ({share_text(c, n)}), "
                        f"fewer than the minimum segment size of {threshold:,} ({how})"
                    )
        for c, k in in_use:
            if c / n > DOMINANT_SHARE:
                out.append(
                    f"{d.name}: label '{k}' holds {c:,} of {n:,} accounts "
                    f"({share_text(c, n)}), over {DOMINANT_SHARE:.0%}"
                )
        if none / n > NO_VALUE_SHARE:
            out.append(
                f"{d.name}: {none:,} of {n:,} accounts ({share_text(none, n)}) have no value, over {NO_VALUE_SHARE:.0%}"
            )
    return out
