"""``crmseg review``'s file reports: JSON (the spec's keys), CSV (one row per dimension × label)
and Markdown (the findings as tables for a QBR document). Input: the ``review --json``
document (:meth:`crmseg.review.Review.to_json`, plus ``quarters`` and ``source``)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from crmseg.report.files import atomic_write, safe_cell
from crmseg.review import LABEL_KEYS

__all__ = [
    "CSV_COLUMNS",
    "auc_text",
    "fmt_money",
    "fmt_p",
    "fmt_pct",
    "label_order",
    "period_title",
    "render_review_csv",
    "render_review_markdown",
    "write_review_csv",
    "write_review_json",
    "write_review_markdown",
]

_INTERVALS = tuple(k for k in LABEL_KEYS if k.endswith("_ci"))
#: The CSV's columns: dimension, label, then the table's keys (intervals as low/high, the trend flat).
CSV_COLUMNS: tuple[str, ...] = (
    "dimension",
    "label",
    *(
        c
        for k in LABEL_KEYS
        for c in (
            (f"{k}_low", f"{k}_high")
            if k in _INTERVALS
            else ("trend_previous_win_rate", "trend_p", "trend_p_adjusted", "trend_flag")
            if k == "trend"
            else (k,)
        )
    ),
)


# ---------------------------------------------------------------- shared formatting
def fmt_pct(x: Any, digits: int = 0) -> str:
    """``31%``; an en dash for no value."""
    return "–" if x is None else f"{float(x):.{digits}%}"


def monotonic_text(cal: Mapping[str, Any]) -> str:
    """Whether the bands' win rates fall from the top band down, in words (it needs two bands
    with at least min_closed closed deals)."""
    m = cal.get("monotonic")
    return "not judged (fewer than two bands with enough closed deals)" if m is None else "yes" if m else "no"


def differ_text(p: Any) -> str:
    """The chi-square across labels in words: its p, or why it was not run (it needs two labels
    with at least min_closed closed deals)."""
    return "not tested (fewer than two labels with enough closed deals)" if p is None else f"p {fmt_p(p)}"


def fmt_p(p: Any) -> str:
    """A p-value in two significant digits (``< 0.001`` below); an en dash for none."""
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def fmt_money(x: Any) -> str:
    """``12.3k``, ``1.2M``; an en dash for none."""
    if x is None:
        return "–"
    v = float(x)
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:.1f}{unit}"
    return f"{v:,.0f}"


def fmt_ci(ci: Any, pct: bool = True) -> str:
    """``[18%, 42%]``; an en dash for none."""
    if not ci:
        return "–"
    lo, hi = ci
    return f"[{fmt_pct(lo)}, {fmt_pct(hi)}]" if pct else f"[{fmt_money(lo)}, {fmt_money(hi)}]"


_BAND = re.compile(r"^(?:<=\s*(?P<le>[-\d.]+)|\((?P<a>[-\d.]+),\s*(?P<b>[-\d.]+)\]|>\s*(?P<gt>[-\d.]+))$")


def _band_key(label: str) -> float | None:
    m = _BAND.match(label)
    if m is None:
        return None
    if m["le"] is not None:
        return float(m["le"]) - 1e-9
    if m["gt"] is not None:
        return math.inf
    return float(m["b"])


def label_order(dim: Mapping[str, Any]) -> list[str]:
    """A dimension's labels in reading order: a tier ladder top first, score bands high to low,
    other labels as listed."""
    labels = list(dim.get("labels", {}))
    cal = dim.get("calibration") or {}
    bands = [b["band"] for b in cal.get("bands", [])]
    if bands and all(label in bands for label in labels):
        return sorted(labels, key=bands.index)
    keys = {label: _band_key(label) for label in labels}
    if labels and all(k is not None for k in keys.values()):
        return sorted(labels, key=lambda label: -(keys[label] or 0.0))
    return labels


def auc_text(cal: Mapping[str, Any]) -> str:
    """``0.71 [0.64, 0.78]``; an en dash with no AUC."""
    if cal.get("auc") is None:
        return "–"
    ci = cal.get("auc_ci")
    return f"{cal['auc']:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def period_title(doc: Mapping[str, Any]) -> str:
    """``2026-07-01 – 2026-09-30 (vs 2026-04-01 – 2026-06-30)``."""
    p = doc["period"]
    text = f"{p['start']} – {p['end']}"
    c = p.get("compare")
    return text + (f" (vs {c['start']} – {c['end']})" if c else "")


# ---------------------------------------------------------------- JSON
def write_review_json(doc: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """The ``review --json`` document (rates as fractions, null where undefined, never NaN)."""
    atomic_write(Path(path), json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


# ---------------------------------------------------------------- CSV
def _cells(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return safe_cell(str(value))


def csv_rows(doc: Mapping[str, Any]) -> Iterable[list[Any]]:
    """One row per dimension × label, in :data:`CSV_COLUMNS` order."""
    for name, dim in doc.get("dimensions", {}).items():
        for label in label_order(dim):
            m = dim["labels"][label]
            row: list[Any] = [safe_cell(name), safe_cell(label)]
            for k in LABEL_KEYS:
                v = m.get(k)
                if k in _INTERVALS:
                    row += [_cells(v[0]), _cells(v[1])] if v else ["", ""]
                elif k == "trend":
                    t = v or {}
                    row += [_cells(t.get(x)) for x in ("previous_win_rate", "p", "p_adjusted", "flag")]
                else:
                    row.append(_cells(v))
            yield row


def render_review_csv(doc: Mapping[str, Any]) -> str:
    """The CSV report as text."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    w.writerows(csv_rows(doc))
    return out.getvalue()


def write_review_csv(doc: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """One row per dimension × label with the table's keys."""
    atomic_write(Path(path), render_review_csv(doc))


# ---------------------------------------------------------------- Markdown
def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def _trend_text(t: Mapping[str, Any] | None) -> str:
    if not t:
        return "–"
    flag = t.get("flag")
    if flag == "insufficient":
        return "too few deals"
    return f"{flag} (was {fmt_pct(t.get('previous_win_rate'))}, p {fmt_p(t.get('p'))})"


def label_rows(dim: Mapping[str, Any]) -> list[list[str]]:
    """The main table's cells per label (shared by the Markdown and terminal reports)."""
    rows: list[list[str]] = []
    for label in label_order(dim):
        m = dim["labels"][label]
        rows.append(
            [
                label + ("" if m["sufficient"] else " *"),
                str(m["accounts"] if m["accounts"] is not None else "–"),
                f"{m['won']}/{m['lost']}",
                fmt_pct(m["win_rate"]),
                fmt_ci(m["win_rate_ci"]),
                fmt_money(m["avg_deal"]),
                "–" if m["cycle_days_median"] is None else f"{m['cycle_days_median']:.0f}",
                fmt_money(m["velocity"]),
                fmt_pct(m["logo_churn"]),
                fmt_p(m["vs_rest_p"]),
                _trend_text(m.get("trend")),
            ]
        )
    return rows


LABEL_HEAD = (
    "label",
    "accounts",
    "won/lost",
    "win rate",
    "95% CI",
    "avg deal",
    "cycle (d)",
    "velocity/day",
    "churn",
    "vs rest p",
    "trend",
)


def render_review_markdown(doc: Mapping[str, Any]) -> str:
    """The review as Markdown: alerts, per dimension the label table, calibration and health,
    the viability scorecards and the warnings."""
    d = doc["deals"]
    att = d["attribution"]
    lines = [
        f"# Segment review: {period_title(doc)}",
        "",
        (
            f"Source: {doc.get('source', '')}. Deals read {d['read']}: {d['closed']} closed in the period "
            f"({d['won']} won, {d['lost']} lost), {d['open']} open at its end; attribution: {att['as_of']} as of "
            f"the deal, {att['backfilled']} backfilled, {att['current']} current; {d['no_account']} without an "
            f"account, {d.get('unknown_account', 0)} of unknown accounts."
        ),
        "",
    ]
    alerts = doc.get("alerts") or []
    lines += ["## Alerts", ""] + ([f"- **{_md(a)}**" for a in alerts] or ["None."]) + [""]
    health = doc.get("health") or {}
    for name, dim in doc.get("dimensions", {}).items():
        lines += [f"## {name}", ""]
        lines += _table(LABEL_HEAD, label_rows(dim))
        lines += [
            (
                "`*`: fewer closed deals than `min_closed`: shown, never ranked or flagged. "
                f"Labels differ (chi-square): {differ_text(dim.get('differentiable_p'))}."
            ),
            "",
        ]
        cal = dim.get("calibration")
        if cal:
            lines += [f"### Calibration of {name}", ""]
            lines += _table(
                ("band", "accounts", "won/lost", "win rate", "95% CI", "lift"),
                (
                    [
                        b["band"],
                        b["accounts"],
                        f"{b['won']}/{b['lost']}",
                        fmt_pct(b["win_rate"]),
                        fmt_ci(b["win_rate_ci"]),
                        "–" if b["lift"] is None else f"{b['lift']:.2f}",
                    ]
                    for b in cal["bands"]
                ),
            )
            lines += [f"AUC {auc_text(cal)}; monotonic: {monotonic_text(cal)}.", ""]
            lines += [f"- {_md(f)}" for f in cal.get("findings", [])] + [""]
        h = health.get(name)
        if h:
            lines += [f"### Health of {name}", ""] + [f"- {_md(s)}" for s in h.get("sentences", [])] + [""]
    viability = doc.get("viability") or {}
    for name, labels in viability.items():
        lines += [f"## Viability of {name} (MASDA)", ""]
        lines += _table(
            ("label", "measurable", "accessible", "substantial", "differentiable", "actionable", "verdict", "reasons"),
            (
                [
                    label,
                    fmt_pct(v["measurable"]),
                    fmt_pct(v["accessible"]),
                    fmt_pct(v["substantial"]),
                    {True: "yes", False: "no", None: "–"}[v["differentiable"]],
                    "not measured",
                    v["verdict"],
                    "; ".join(r for r in v["reasons"] if not r.startswith("actionable")),
                ]
                for label, v in labels.items()
            ),
        )
    warnings = doc.get("warnings") or []
    if warnings:
        lines += ["## Warnings", ""] + [f"- {_md(w)}" for w in warnings] + [""]
    return "\n".join(lines)


def write_review_markdown(doc: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """The Markdown report."""
    atomic_write(Path(path), render_review_markdown(doc))
