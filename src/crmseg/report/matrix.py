"""From -> to matrices (rows: the value before, columns: the value after) for the terminal,
Markdown and HTML: shared by ``rules diff`` and the audit's movement tables."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from rich.table import Table
from rich.text import Text

__all__ = ["MAX_AXIS", "html_matrix", "markdown_matrix", "terminal_matrix"]

#: More distinct values than this on an axis (scores): show the moves as a list instead.
MAX_AXIS = 14


def _axes(order: Sequence[str], cells: Mapping[tuple[str, str], int]) -> tuple[list[str], list[str]]:
    rows = [v for v in order if any(cells.get((v, b), 0) for b in order)]
    cols = [v for v in order if any(cells.get((a, v), 0) for a in order)]
    return rows, cols


def terminal_matrix(
    order: Sequence[str], cells: Mapping[tuple[str, str], int], title: str, from_word: str = "from", to_word: str = "to"
) -> Table:
    """A rich table; unchanged cells dim, moves in yellow, row and column totals."""
    rows, cols = _axes(order, cells)
    t = Table(title=Text(title), title_justify="left", show_edge=False, pad_edge=False)
    t.add_column(Text(f"{from_word} \\ {to_word}"))
    for c in cols:
        t.add_column(Text(c), justify="right")
    t.add_column(Text("total"), justify="right", style="bold")
    for r in rows:
        line: list[Text] = [Text(r)]
        for c in cols:
            n = cells.get((r, c), 0)
            line.append(Text(f"{n:,}" if n else "·", style="dim" if r == c or not n else "yellow"))
        line.append(Text(f"{sum(cells.get((r, c), 0) for c in cols):,}"))
        t.add_row(*line)
    t.add_row(
        Text("total", style="bold"),
        *(Text(f"{sum(cells.get((r, c), 0) for r in rows):,}", style="bold") for c in cols),
        Text(f"{sum(cells.values()):,}", style="bold"),
    )
    return t


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_matrix(order: Sequence[str], cells: Mapping[tuple[str, str], int]) -> list[str]:
    """GitHub-flavoured Markdown table lines (moves in bold)."""
    rows, cols = _axes(order, cells)
    out = ["| from \\ to | " + " | ".join(_md(c) for c in cols) + " |", "| --- |" + " ---: |" * len(cols)]
    for r in rows:
        vals = []
        for c in cols:
            n = cells.get((r, c), 0)
            vals.append("·" if not n else f"{n:,}" if r == c else f"**{n:,}**")
        out.append(f"| {_md(r)} | " + " | ".join(vals) + " |")
    return out


def html_matrix(order: Sequence[str], cells: Mapping[tuple[str, str], int], caption: str = "") -> str:
    """A heat-map table: moves shaded by their share of the largest move, unchanged cells grey."""
    rows, cols = _axes(order, cells)
    top = max([n for (a, b), n in cells.items() if a != b] or [1])

    def esc(s: object) -> str:
        return html.escape(str(s), quote=True)

    head = "".join(f'<th class="n">{esc(c)}</th>' for c in cols)
    body = []
    for r in rows:
        tds = []
        for c in cols:
            n = cells.get((r, c), 0)
            if not n:
                tds.append('<td class="n" style="color:#cbd5e1">·</td>')
            elif r == c:
                tds.append(f'<td class="n" style="background:#f1f5f9;color:#64748b">{n:,}</td>')
            else:
                alpha = 0.15 + 0.75 * n / top
                tds.append(f'<td class="n" style="background:rgba(245,158,11,{alpha:.2f})"><b>{n:,}</b></td>')
        body.append(f'<tr><th class="name">{esc(r)}</th>{"".join(tds)}</tr>')
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f'<div class="scroll"><table class="matrix">{cap}<thead><tr><th>from \\ to</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
