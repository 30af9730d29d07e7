"""What the audit renderers share: a summary's data form, distribution rows, move and crosstab cells.

Every renderer takes an ``AuditSummary`` or the dict its ``to_json()`` returns (so a saved
JSON report can be rendered again); these helpers work on that dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crmseg.audit.checks import share_text
from crmseg.labels import label_order
from crmseg.model import NONE_LABEL

if TYPE_CHECKING:
    from crmseg.audit.summary import AuditSummary

__all__ = ["Row", "as_data", "change_total", "crosstab_cells", "distribution_rows", "move_cells", "share_text"]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a distribution: a value (or a score range), its accounts and share."""

    label: str
    count: int
    share: float
    is_none: bool = False


def as_data(summary: AuditSummary | Mapping[str, Any]) -> Mapping[str, Any]:
    """The JSON form of a summary (a dict passes through)."""
    if isinstance(summary, Mapping):
        return summary
    return summary.to_json()


def change_total(changes: Mapping[str, int]) -> int:
    """Accounts whose tag would be written (changed + added + cleared)."""
    return int(changes.get("changed", 0)) + int(changes.get("added", 0)) + int(changes.get("cleared", 0))


def distribution_rows(dim: Mapping[str, Any], accounts: int, max_rows: int = 12) -> list[Row]:
    """Rows to show for one dimension's counts.

    Labels: in the dimension's declared ``values`` order, then any other label by count
    (``crmseg.labels.label_order``), ``(none)`` last and always shown.
    Scores: in value order; more than ``max_rows`` distinct values are grouped into
    equal-width ranges; ``(none)`` is shown only when some account has no score.
    """
    counts: Mapping[str, int] = dim.get("counts", {})
    none = int(counts.get(NONE_LABEL, 0))
    items = [(k, int(c)) for k, c in counts.items() if k != NONE_LABEL]

    def row(label: str, count: int, is_none: bool = False) -> Row:
        return Row(label, count, count / accounts if accounts else 0.0, is_none)

    if dim.get("kind") == "score":
        rows = _score_rows([(k, c) for k, c in items if c > 0], max_rows, row)
        if none:
            rows.append(row(NONE_LABEL, none, True))
        return rows
    tally = dict(items)
    rows = [row(k, tally[k]) for k in label_order(tally, list(dim.get("values") or []), tally)]
    rows.append(row(NONE_LABEL, none, True))
    return rows


def move_cells(dim: Mapping[str, Any]) -> tuple[list[str], dict[tuple[str, str], int]]:
    """(axis order, (CRM now, computed) -> accounts) of one dimension's would-write moves."""
    cells = {(str(m["from"]), str(m["to"])): int(m["accounts"]) for m in dim.get("moves", [])}
    seen = {v for pair in cells for v in pair}
    return label_order(seen, list(dim.get("values") or [])), cells


def crosstab_cells(data: Mapping[str, Any]) -> tuple[str, str, list[str], list[str], dict[tuple[str, str], int]] | None:
    """(row dimension, column dimension, row order, column order, cells) of the segment x tier table."""
    ct = data.get("crosstab")
    if not ct:
        return None
    cells = {(str(c["row"]), str(c["col"])): int(c["accounts"]) for c in ct.get("cells", [])}
    dims = data.get("dimensions", {})
    rows = label_order({a for a, _ in cells}, list((dims.get(ct["rows"]) or {}).get("values") or []))
    cols = label_order({b for _, b in cells}, list((dims.get(ct["cols"]) or {}).get("values") or []))
    return str(ct["rows"]), str(ct["cols"]), rows, cols, cells


def _score_rows(items: list[tuple[str, int]], max_rows: int, row: Any) -> list[Row]:
    """Score values in numeric order, binned when there are too many."""
    numeric: list[tuple[float, str, int]] = []
    other: list[tuple[str, int]] = []
    for k, c in items:
        try:
            numeric.append((float(k), k, c))
        except ValueError:
            other.append((k, c))
    numeric.sort()
    if len(numeric) <= max_rows:
        return [row(k, c) for _, k, c in numeric] + [row(k, c) for k, c in other]
    lo, hi = numeric[0][0], numeric[-1][0]
    step = _nice_step((hi - lo) / max(max_rows - 2, 1))
    start = math.floor(lo / step) * step
    integral = all(v.is_integer() for v, _, _ in numeric) and float(step).is_integer()
    bins: dict[int, int] = {}
    for v, _, c in numeric:
        i = int((v - start) // step)
        bins[i] = bins.get(i, 0) + c
    rows = []
    for i in range(max(bins) + 1):
        a = start + i * step
        b = a + step
        if not integral:
            label = f"{a:g} to <{b:g}"
        elif step == 1:
            label = f"{int(a)}"
        else:
            label = f"{int(a)}–{int(b) - 1}"
        rows.append(row(label, bins.get(i, 0)))
    return rows + [row(k, c) for k, c in other]


def _nice_step(raw: float) -> float:
    """The smallest 1/2/2.5/5 x 10^k step not below ``raw``."""
    if raw <= 0:
        return 1.0
    exp = math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        step = m * 10.0**exp
        if step >= raw - 1e-12:
            return step
    return 10.0 ** (exp + 1)
