"""``crmseg review`` in the terminal (rich): per dimension the label table, the calibration and
health sentences, the viability scorecards, alerts and warnings — readable in 100 columns,
plain text when piped. Input: the ``review --json`` document. Every user-supplied text (labels,
dimension names) goes in as a ``Text`` object, never as markup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from crmseg.report.review_files import (
    auc_text,
    differ_text,
    fmt_ci,
    fmt_money,
    fmt_p,
    fmt_pct,
    label_order,
    monotonic_text,
    period_title,
)

__all__ = ["render_review"]

FLAG_STYLE = {"decaying": "bold red", "improving": "green", "stable": "", "insufficient": "dim"}
VERDICT_STYLE = {"viable": "green", "watch": "yellow", "not_viable": "bold red"}


def render_review(doc: Mapping[str, Any], console: Console) -> None:
    """Print the whole review to ``console``."""
    console.print(_header(doc))
    alerts = doc.get("alerts") or []
    console.print()
    if alerts:
        console.print(Text("Alerts", style="bold red"))
        for a in alerts:
            console.print(Text(f"  ! {a}", style="red"))
    else:
        console.print(Text("No alert: no sufficient label decaying, no tier out of order.", style="green"))
    health = doc.get("health") or {}
    for name, dim in doc.get("dimensions", {}).items():
        console.print()
        console.print(_dimension(name, dim, health.get(name)))
    for name, labels in (doc.get("viability") or {}).items():
        console.print()
        console.print(_viability(name, labels))
    warnings = doc.get("warnings") or []
    if warnings:
        console.print()
        console.print(Text("Warnings", style="bold yellow"))
        for w in warnings:
            console.print(Text(f"  - {w}"))


def _header(doc: Mapping[str, Any]) -> RenderableType:
    d = doc["deals"]
    att = d["attribution"]
    title = Text("crmseg review  ", style="bold")
    title.append(period_title(doc))
    facts = Text(
        f"{doc.get('source', '')}\n"
        f"deals {d['read']:,}: {d['closed']:,} closed in the period ({d['won']:,} won, {d['lost']:,} lost), "
        f"{d['open']:,} open at its end\n"
        f"attribution: {att['as_of']:,} as of the deal, {att['backfilled']:,} backfilled, {att['current']:,} current; "
        f"{d['no_account']:,} without an account, {d.get('unknown_account', 0):,} of unknown accounts",
        style="dim",
    )
    return Group(title, facts)


def _trend(t: Mapping[str, Any] | None) -> Text:
    if not t:
        return Text("–")
    flag = str(t.get("flag"))
    if flag == "insufficient":
        return Text("too few", style="dim")
    arrow = {"decaying": "▼ ", "improving": "▲ "}.get(flag, "")
    return Text(f"{arrow}{flag} ({fmt_pct(t.get('previous_win_rate'))}, p {fmt_p(t.get('p'))})", FLAG_STYLE[flag])


def _dimension(name: str, dim: Mapping[str, Any], health: Mapping[str, Any] | None) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
    table.add_column("label", no_wrap=True, overflow="ellipsis", max_width=22)
    for head in ("accts", "won/lost", "win", "95% CI", "avg deal", "cycle", "velocity"):
        table.add_column(head, justify="right", no_wrap=True)
    table.add_column("trend (before)", overflow="fold")
    for label in label_order(dim):
        m = dim["labels"][label]
        style = "" if m["sufficient"] else "dim"
        table.add_row(
            Text(label + ("" if m["sufficient"] else " *"), style=style),
            "–" if m["accounts"] is None else f"{m['accounts']:,}",
            f"{m['won']}/{m['lost']}",
            Text(fmt_pct(m["win_rate"]), style=style),
            Text(fmt_ci(m["win_rate_ci"]), style=style),
            fmt_money(m["avg_deal"]),
            "–" if m["cycle_days_median"] is None else f"{m['cycle_days_median']:.0f}d",
            fmt_money(m["velocity"]),
            _trend(m.get("trend")),
        )
    parts: list[RenderableType] = [Rule(Text(name, style="bold"), align="left"), table]
    note = Text(
        f"* under min_closed closed deals: shown, never ranked or flagged · labels differ (chi-square): "
        f"{differ_text(dim.get('differentiable_p'))}",
        style="dim",
    )
    churn = [(k, m) for k, m in dim["labels"].items() if m.get("customers_start")]
    if churn:
        note.append(
            "\nlogo churn: " + ", ".join(f"{k} {fmt_pct(m['logo_churn'])} of {m['customers_start']}" for k, m in churn)
        )
    parts.append(note)
    cal = dim.get("calibration")
    if cal:
        parts.append(_calibration(cal))
    for sentence in (health or {}).get("sentences", []):
        parts.append(Text(f"  {sentence}"))
    return Group(*parts)


def _calibration(cal: Mapping[str, Any]) -> RenderableType:
    t = Table(box=None, pad_edge=False, padding=(0, 1), show_header=True, header_style="dim")
    t.add_column("band", overflow="fold", max_width=20)
    for head in ("won/lost", "win", "lift", ""):
        t.add_column(head, justify="right" if head else "left", no_wrap=True)
    for b in cal["bands"]:
        lift = b["lift"]
        bar = "█" * min(round((lift or 0) * 10), 30)
        t.add_row(
            Text(b["band"], style="" if b["sufficient"] else "dim"),
            f"{b['won']}/{b['lost']}",
            fmt_pct(b["win_rate"]),
            "–" if lift is None else f"{lift:.2f}",
            Text(bar, style="cyan"),
        )
    title = Text(f"calibration: AUC {auc_text(cal)}, monotonic: {monotonic_text(cal)}", style="bold")
    findings = [Text(f"  {line}", style="yellow") for line in cal.get("findings", [])]
    return Group(title, t, *findings)


def _viability(name: str, labels: Mapping[str, Mapping[str, Any]]) -> RenderableType:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
    t.add_column("label", overflow="fold", max_width=18)
    for head in ("meas.", "access.", "subst.", "diff.", "verdict"):
        t.add_column(head, justify="right", no_wrap=True)
    t.add_column("reasons", overflow="fold", ratio=1)
    for label, v in labels.items():
        reasons = "; ".join(r for r in v["reasons"] if not r.startswith("actionable"))
        t.add_row(
            Text(label),
            fmt_pct(v["measurable"]),
            fmt_pct(v["accessible"]),
            fmt_pct(v["substantial"]),
            {True: "yes", False: "no", None: "–"}[v["differentiable"]],
            Text(v["verdict"], style=VERDICT_STYLE.get(v["verdict"], "")),
            Text(reasons or "–"),
        )
    note = Text("actionable: a judgement, not measured", style="dim")
    return Group(Rule(Text(f"viability of {name} (MASDA)", style="bold"), align="left"), t, note)
