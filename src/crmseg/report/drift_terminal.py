"""The drift report in the terminal (rich): per dimension the first and last counts, PSI and
its flag, the transition matrix and the most flapping accounts.

Input: the ``drift --json`` document. User-supplied text goes in as ``Text``, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from crmseg.audit.checks import share_text
from crmseg.labels import account_text
from crmseg.model import NONE_LABEL
from crmseg.report.drift_html import period_text

FLAG_STYLES = {"none": "green", "moderate": "bold yellow", "major": "bold red"}
TOP_FLAPPING = 5
MAX_PATH = 10


def render_drift(report: Mapping[str, Any], console: Console) -> None:
    """Print the whole drift report to ``console``."""
    console.print(_header(report))
    for name, dim in report.get("dimensions", {}).items():
        console.print()
        console.print(_dimension(name, dim, console))


def _header(report: Mapping[str, Any]) -> Text:
    """Title line: sync, runs compared, period."""
    runs: Sequence[Mapping[str, Any]] = report.get("runs", [])
    text = Text()
    text.append("crmseg drift", style="bold")
    if report.get("sync"):
        text.append(f"  sync {report['sync']}", style="bold cyan")
    text.append(f"  {len(runs):,} run{'s' if len(runs) != 1 else ''} with a snapshot", style="cyan")
    skipped = report.get("skipped_runs", [])
    if skipped:
        text.append(f"  ({len(skipped):,} failed or aborted left out)", style="dim")
    if runs:
        text.append(
            f"\n#{runs[0]['id']} {str(runs[0].get('at') or '')[:19]} → "
            f"#{runs[-1]['id']} {str(runs[-1].get('at') or '')[:19]}",
            style="dim",
        )
    if report.get("since"):
        text.append(f"\nsince {report['since']}", style="dim")
    if report.get("period"):
        text.append(f"\nmoves of {period_text(report['period'])}", style="dim")
    alerts = [r for r in runs if r.get("drift_alert")]
    for r in alerts:
        text.append(f"\n! run #{r['id']}: {r['drift_alert']}", style="yellow")
    return text


def _dimension(name: str, dim: Mapping[str, Any], console: Console) -> RenderableType:
    """Heading with PSI and flag, first vs last counts, the matrix, flapping accounts."""
    flag = str(dim.get("flag", "none"))
    title = Text()
    title.append(f" {name} ", style="bold magenta")
    title.append(f"· {dim.get('kind', 'label')} ", style="dim")
    psi = dim.get("psi")
    title.append("· PSI ", style="dim")
    title.append("–" if psi is None else f"{float(psi):.4f}", style="bold")
    title.append(f" {flag} ", style=FLAG_STYLES.get(flag, ""))
    parts: list[RenderableType] = [Rule(title, align="left", style="dim")]
    bins = dim.get("bins")
    if bins:
        parts.append(
            Text(f"scores binned by the deciles of run #{bins.get('baseline_run')}; (none) is its own bin", style="dim")
        )
    labels = [str(x) for x in dim.get("labels", [])]
    if dim.get("from_run") is not None:
        parts += [_first_last(dim, labels), Text()]
    parts += [*_moves_note(dim), _matrix(dim.get("transitions", {}), labels, console), Text()]
    parts.append(_flapping(dim.get("flapping", [])))
    return Group(*parts)


def _moves_note(dim: Mapping[str, Any]) -> list[RenderableType]:
    """``initial load: SMB 275, Mid-Market 80`` (first evaluations, not moves); for scores, the
    moves inside one bin left out."""
    out: list[RenderableType] = []
    loaded = dim.get("initial_load") or {}
    if loaded:
        text = Text("initial load ", style="bold")
        text.append("(first evaluations, not counted as moves): ", style="dim")
        text.append(", ".join(f"{label} {int(n):,}" for label, n in loaded.items()))
        out.append(text)
    within = int(dim.get("moves_within_bins") or 0)
    if within:
        out.append(Text(f"{within:,} score move{'s' if within != 1 else ''} inside one bin not shown", style="dim"))
    return out


def _first_last(dim: Mapping[str, Any], labels: list[str]) -> Table:
    """Count and share per label in the first and last snapshot, and the share change."""
    first: Mapping[str, int] = dim.get("first", {})
    last: Mapping[str, int] = dim.get("last", {})
    tf, tl = sum(first.values()), sum(last.values())
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("Bin" if dim.get("kind") == "score" else "Value", overflow="fold", max_width=40)
    table.add_column(f"Run #{dim.get('from_run')}", justify="right")
    table.add_column(f"Run #{dim.get('to_run')}", justify="right")
    table.add_column("Change", justify="right")
    for label in labels:
        a, b = int(first.get(label, 0)), int(last.get(label, 0))
        if not a and not b:
            continue
        delta = (b / tl if tl else 0.0) - (a / tf if tf else 0.0)
        style = "yellow" if abs(delta) >= 0.05 else "dim" if not delta else ""
        table.add_row(
            Text(label, style="dim italic" if label == NONE_LABEL else ""),
            _count(a, tf),
            _count(b, tl),
            Text(f"{delta * 100:+.1f} pp", style=style),
        )
    return table


def _count(n: int, total: int) -> Text:
    """``1,234 12.3%`` with the share dimmed."""
    text = Text(f"{n:,}")
    text.append(f" {share_text(n, total):>6}", style="dim")
    return text


def _matrix(matrix: Mapping[str, Mapping[str, int]], labels: list[str], console: Console) -> RenderableType:
    """The from → to counts as a table (rows: from, columns: to); as a list when too wide."""
    if not matrix:
        return Text("No moves in this period.", style="dim")
    order = {k: i for i, k in enumerate(labels)}

    def ordered(keys: Any) -> list[str]:
        return sorted(keys, key=lambda k: (order.get(k, len(order)), k))

    tos = ordered({t for row in matrix.values() for t in row})
    top = max(n for row in matrix.values() for n in row.values()) or 1
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        title=Text("Transitions (from ↓ to →)", style="bold"),
        title_justify="left",
    )
    width = min(max(len(k) for k in [*matrix, "from \\ to"]), 30)
    table.add_column("from \\ to", overflow="fold", min_width=width, max_width=30)
    for t in tos:
        table.add_column(Text(t), justify="right", overflow="fold", max_width=20)
    table.add_column("Total", justify="right", header_style="bold", min_width=5)
    for f in ordered(matrix):
        cells: list[Text] = [Text(f, style="bold")]
        for t in tos:
            n = int(matrix[f].get(t, 0))
            cells.append(Text(f"{n:,}", style="bold cyan" if n * 2 >= top else "cyan") if n else Text("·", style="dim"))
        cells.append(Text(f"{sum(int(x) for x in matrix[f].values()):,}", style="bold"))
        table.add_row(*cells)
    if Measurement.get(console, console.options.update_width(10_000), table).maximum <= console.width:
        return table
    return _pairs(matrix, order)


def _pairs(matrix: Mapping[str, Mapping[str, int]], order: Mapping[str, int], most: int = 15) -> RenderableType:
    """The matrix as ``from → to  n`` lines, most frequent first (ties in label order)."""

    def rank(k: str) -> tuple[int, str]:
        return order.get(k, len(order)), k

    pairs = sorted(
        ((int(n), f, t) for f, row in matrix.items() for t, n in row.items()),
        key=lambda p: (-p[0], rank(p[1]), rank(p[2])),
    )
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        title=Text("Transitions (from → to)", style="bold"),
        title_justify="left",
    )
    table.add_column("From", overflow="fold", max_width=30)
    table.add_column("To", overflow="fold", max_width=30)
    table.add_column("Moves", justify="right")
    for n, f, t in pairs[:most]:
        table.add_row(Text(f), Text(t), f"{n:,}")
    if len(pairs) > most:
        table.add_row(Text(f"… {len(pairs) - most:,} more pairs", style="dim"), "", "")
    return table


def _flapping(items: Sequence[Mapping[str, Any]]) -> RenderableType:
    """The accounts that moved most often, with their path."""
    if not items:
        return Text("Flapping: no account moved more than once.", style="dim")
    shown = items[:TOP_FLAPPING]
    grid = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        title=Text(f"Flapping accounts (top {len(shown)})", style="bold"),
        title_justify="left",
    )
    grid.add_column("Account", overflow="fold", max_width=40)
    grid.add_column("Moves", justify="right")
    grid.add_column("Path", overflow="fold")
    for f in shown:
        path = [str(p) for p in f.get("path", [])]
        if len(path) > MAX_PATH:
            path = [*path[:4], "…", *path[-4:]]
        who = Text(account_text(str(f.get("account")), f))
        grid.add_row(who, f"{int(f.get('moves', 0)):,}", Text(" → ".join(path)))
    return grid
