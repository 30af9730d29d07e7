"""The audit report in the terminal (rich): compact tables, plain text when piped.

Colour comes from rich's own terminal detection, so piped output carries no
escape codes. Every user-supplied text (labels, rule and field names) goes in as a
``Text`` object, never as markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.measure import Measurement
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from crmseg.report.matrix import MAX_AXIS, terminal_matrix
from crmseg.report.views import Row, as_data, change_total, crosstab_cells, distribution_rows, move_cells, share_text
from crmseg.tags import CHANGE_KINDS

if TYPE_CHECKING:
    from crmseg.audit.summary import AuditSummary

BAR_WIDTH = 12
GAP = 4
CHANGE_STYLES = {"unchanged": "dim", "changed": "yellow", "added": "green", "cleared": "red"}


def render(summary: AuditSummary | Mapping[str, Any], console: Console) -> None:
    """Print the whole audit report to ``console``."""
    data = as_data(summary)
    n = int(data.get("accounts", 0))
    console.print(_header(data, n))
    alerts = _rule_alerts(data.get("failed_tests", []), data.get("rule_warnings", []))
    if alerts is not None:
        console.print()
        console.print(alerts)
    for name, dim in data.get("dimensions", {}).items():
        console.print()
        console.print(_dimension(name, dim, n, console))
    console.print()
    console.print(_changes(data.get("changes", {}), n, (data.get("pinned") or {}).get("would_change", {})))
    guard = data.get("guard")
    if guard:
        console.print(_guard(guard))
    cross = _crosstab(data)
    if cross is not None:
        console.print()
        console.print(cross)
    console.print()
    console.print(_quality(data.get("quality", {}), n))
    skipped = data.get("skipped_rows") or {}
    if skipped.get("count"):
        console.print(_skipped(skipped))
    console.print()
    console.print(_warnings(data.get("warnings", [])))


def _header(data: Mapping[str, Any], n: int) -> Text:
    """Title line and run facts."""
    run: Mapping[str, Any] = data.get("run", {}) or {}
    text = Text()
    text.append("crmseg audit", style="bold")
    text.append(f"  {n:,} accounts", style="bold cyan")
    text.append("  (dry run: nothing was written)", style="dim")
    lines = (
        [("source", "source"), ("rules_dir", "rules"), ("mapping", "mapping")],
        [("engine", "engine"), ("started_at", "started"), ("as_of", "as of"), ("duration_s", "took")],
        [("api_calls", "API calls"), ("api_usage", "org API usage")],
    )
    for keys in lines:
        facts = [(label, _fact(key, run[key])) for key, label in keys if run.get(key) not in (None, "")]
        for i, (label, value) in enumerate(facts):
            text.append("\n" if i == 0 else "  ·  ", style="dim")
            text.append(f"{label} ", style="dim")
            text.append(value)
    return text


def _fact(key: str, value: Any) -> str:
    """One run fact as text."""
    if key == "duration_s" and isinstance(value, (int, float)):
        return _duration(float(value))
    return str(value)


def _duration(seconds: float) -> str:
    """Seconds as ``0.42 s``, ``12.3 s`` or ``4 min 05 s``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def _bar(share: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar in eighth-blocks; ``share`` of the full width."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")


def _dimension(name: str, dim: Mapping[str, Any], n: int, console: Console) -> RenderableType:
    """Heading, distribution table and rule-hit table of one dimension."""
    kind = str(dim.get("kind", "label"))
    title = Text()
    title.append(f" {name} ", style="bold magenta")
    title.append(f"· {kind} ", style="dim")
    if dim.get("description"):
        title.append("· ", style="dim")
        title.append(str(dim["description"]) + " ", style="italic")
    parts: list[RenderableType] = [Rule(title, align="left", style="dim")]
    stats = dim.get("stats")
    if kind == "score" and isinstance(stats, Mapping) and stats.get("mean") is not None:
        parts.append(
            Text(f"min {_num(stats['min'])}  ·  mean {_num(stats['mean'])}  ·  max {_num(stats['max'])}", style="cyan")
        )
    dist = _distribution(distribution_rows(dim, n), kind, n)
    rules = _rules(dim.get("rules", {}), n, kind)
    widths = [Measurement.get(console, console.options, t).maximum for t in (dist, rules)]
    if sum(widths) + GAP <= console.width:
        grid = Table.grid(padding=(0, GAP))
        grid.add_row(dist, rules)
        parts.append(grid)
    else:
        parts += [dist, Text(), rules]
    never = list(dim.get("never_fired", []))
    if never:
        line = Text("Never fired: ", style="yellow")
        line.append(", ".join(map(str, never)))
        parts.append(line)
    moves = _moves(dim)
    if moves is not None:
        parts += [Text(), moves]
    return Group(*parts)


def _moves(dim: Mapping[str, Any]) -> RenderableType | None:
    """CRM now -> computed for the accounts that would be written (None when nothing moves)."""
    order, cells = move_cells(dim)
    if not cells:
        return None
    title = "Moves: CRM now → computed (accounts that would be written; pinned ones apart)"
    if len(order) <= MAX_AXIS:
        return terminal_matrix(order, cells, title, "CRM now", "computed")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title=Text(title), title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (("CRM now", "left"), ("computed", "left"), ("Accounts", "right"))
    for col, just in columns:
        table.add_column(col, justify=just)
    top = sorted(cells.items(), key=lambda kv: -kv[1])
    for (a, b), c in top[:12]:
        table.add_row(Text(a), Text(b), f"{c:,}")
    if len(top) > 12:
        table.add_row(Text(f"… {len(top) - 12} more moves", style="dim"), "", f"{sum(c for _, c in top[12:]):,}")
    return table


def _crosstab(data: Mapping[str, Any]) -> RenderableType | None:
    """Segment x tier: accounts per pair of computed values."""
    ct = crosstab_cells(data)
    if ct is None:
        return None
    rname, cname, rows, cols, cells = ct
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        title=Text(f"{rname} × {cname} (computed)", style="bold"),
        title_justify="left",
    )
    table.add_column(Text(f"{rname} \\ {cname}"))
    for c in cols:
        table.add_column(Text(c), justify="right")
    table.add_column("Total", justify="right", style="bold")
    for r in rows:
        line = [
            Text(f"{cells.get((r, c), 0):,}" if cells.get((r, c)) else "·", style="" if cells.get((r, c)) else "dim")
            for c in cols
        ]
        table.add_row(Text(r), *line, f"{sum(cells.get((r, c), 0) for c in cols):,}")
    return table


def _num(value: Any) -> str:
    """A statistic, two decimals at most."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}" if isinstance(value, (int, float)) else str(value)


def _distribution(rows: list[Row], kind: str, n: int) -> Table:
    """Value, accounts, share and a bar per row."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("Score" if kind == "score" else "Value", overflow="fold", max_width=40)
    table.add_column("Accounts", justify="right")
    table.add_column("Share", justify="right")
    table.add_column("", width=BAR_WIDTH, no_wrap=True)
    top = max((r.count for r in rows), default=0) or 1
    for r in rows:
        style = "dim italic" if r.is_none else ("dim" if r.count == 0 else "")
        table.add_row(
            Text(r.label, style=style),
            f"{r.count:,}",
            share_text(r.count, n),
            Text(_bar(r.count / top), style="dim" if r.is_none else "cyan"),
        )
    return table


def _rules(hits: Mapping[str, int], n: int, kind: str) -> Table:
    """Hits per rule, file order; never-fired rules flagged."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("Rule (fired)" if kind == "label" else "Rule (matched)", overflow="fold", max_width=40)
    table.add_column("Hits", justify="right")
    table.add_column("Share", justify="right")
    if not hits:
        table.add_row(Text("no enabled rules", style="dim"), "", "")
    for rule, count in hits.items():
        if count:
            table.add_row(Text(str(rule)), f"{count:,}", share_text(count, n))
        else:
            table.add_row(Text(str(rule), style="yellow"), Text("0", style="yellow"), Text("never", style="yellow"))
    return table


def _changes(
    changes: Mapping[str, Mapping[str, int]], n: int, pinned: Mapping[str, int] | None = None
) -> RenderableType:
    """Would-change counts against the CRM's current tags, one row per dimension; with the
    pinned accounts whose tag differs (never written), each row adds up to the accounts."""
    title = Text("Would change vs the CRM's current tags", style="bold")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("Dimension")
    for kind in CHANGE_KINDS:
        table.add_column(kind.capitalize(), justify="right", header_style=f"bold {CHANGE_STYLES[kind]}")
    table.add_column("Pinned", justify="right", header_style="bold blue")
    table.add_column("Would write", justify="right", header_style="bold")
    if not changes:
        return Text("No dimensions.", style="dim")
    for name, counts in changes.items():
        cells: list[Text | str] = [Text(str(name), style="magenta")]
        for kind in CHANGE_KINDS:
            count = int(counts.get(kind, 0))
            cells.append(Text(f"{count:,}", style="" if count else "dim"))
        held = int((pinned or {}).get(name, 0))
        cells.append(Text(f"{held:,}", style="blue" if held else "dim"))
        cells.append(_count_share(change_total(counts), n, bold=True))
        table.add_row(*cells)
    return Group(title, table)


def _guard(guard: Mapping[str, Any]) -> Text:
    """The change guard's verdict: would ``crmseg sync`` write, or stop at ``max_changes``?"""
    if guard.get("tripped"):
        text = Text("Change guard: TRIPS — ", style="bold red")
        text.append(f"{guard['message']}; `crmseg sync` would write nothing (`--allow-changes N` lets a run through)")
    else:
        text = Text("Change guard: passes — ", style="bold green")
        text.append(str(guard["message"]))
    return text


def _count_share(count: int, n: int, bold: bool = False) -> Text:
    """``1,234 12.3%`` with the share dimmed."""
    text = Text(f"{count:,}", style="bold" if bold else "")
    text.append(f" {share_text(count, n):>6}", style="dim")
    return text


def _quality(quality: Mapping[str, Mapping[str, int]], n: int) -> RenderableType:
    """Missing and invalid values of the fields the rules use, worst first."""
    if not quality:
        return Text("Data quality: the rules use no account fields.", style="dim")
    title = Text("Data quality of the fields the rules use", style="bold")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("Field")
    table.add_column("Missing", justify="right")
    table.add_column("Invalid", justify="right")
    order = sorted(quality.items(), key=lambda fq: -(int(fq[1].get("missing", 0)) + int(fq[1].get("invalid", 0))))
    for field, q in order:
        missing, invalid = int(q.get("missing", 0)), int(q.get("invalid", 0))
        table.add_row(Text(str(field)), _flagged(missing, n), _flagged(invalid, n))
    return Group(title, table)


def _skipped(skipped: Mapping[str, Any], listed: int = 5) -> RenderableType:
    """Input rows left out with --skip-bad-rows: how many, and the first few."""
    count = int(skipped.get("count", 0))
    lines = [Text(f"Skipped input rows (--skip-bad-rows): {count:,}, not counted above", style="bold yellow")]
    lines += [Text(f"  {row}", style="yellow") for row in list(skipped.get("rows", []))[:listed]]
    if count > listed:
        lines.append(Text(f"  ... and {count - listed:,} more (all listed in the JSON report up to 100)", style="dim"))
    return Group(*lines)


def _flagged(count: int, n: int) -> Text:
    """A quality count: dim when zero, yellow when over 20% of the accounts."""
    if count == 0:
        return Text("0", style="dim")
    text = _count_share(count, n)
    if n and count / n > 0.2:
        text.stylize("yellow")
    return text


def _rule_alerts(failed: list[str], lints: list[str]) -> RenderableType | None:
    """Failing inline tests (red) and rule lints (yellow), shown before any result."""
    if not failed and not lints:
        return None
    parts: list[RenderableType] = []
    for items, title, style in (
        (
            failed,
            (
                "Inline rule tests FAIL ({n}): these tags are not what the rules' "
                "tests say; fix the rules or the tests before syncing"
            ),
            "red",
        ),
        (lints, "Rule warnings ({n})", "yellow"),
    ):
        if not items:
            continue
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=3, justify="right")
        grid.add_column()
        for line in items:
            grid.add_row(Text("!", style=f"bold {style}"), Text(str(line), style=style))
        parts += [Text(title.format(n=len(items)), style=f"bold {style}"), grid]
    return Group(*parts)


def _warnings(warnings: list[str]) -> RenderableType:
    """Warnings in yellow, one per line (wrapped lines stay indented)."""
    if not warnings:
        return Text("No warnings.", style="green")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=3, justify="right")
    grid.add_column()
    for w in warnings:
        grid.add_row(Text("!", style="bold yellow"), Text(str(w), style="yellow"))
    return Group(Text(f"Warnings ({len(warnings)})", style="bold yellow"), grid)
