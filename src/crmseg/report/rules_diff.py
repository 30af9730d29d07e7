"""``crmseg rules diff`` reports: terminal, Markdown (for a pull request) and one HTML file."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from crmseg.labels import account_text
from crmseg.report.matrix import MAX_AXIS, html_matrix, markdown_matrix, terminal_matrix

if TYPE_CHECKING:
    from crmseg.rules.diff import DimDiff, RulesDiff

__all__ = ["diff_html", "diff_markdown", "render_diff"]


def _pct(n: int, total: int) -> str:
    return f"{n / total:.1%}" if total else "0%"


def _headline(d: RulesDiff) -> str:
    return f"{d.moved:,} of {d.accounts:,} accounts move ({_pct(d.moved, d.accounts)}) from {d.base} to {d.rules}"


def _sample_text(d: DimDiff, a: str, b: str) -> str:
    return "; ".join(
        f"{account_text(s['id'], s)} ({s['before_rule']} → {s['after_rule']})" for s in d.samples.get((a, b), [])
    )


def render_diff(diff: RulesDiff, console: Console) -> None:
    """The terminal report: headline, then per dimension counts, matrix, rule hits and samples."""
    console.print(Text("crmseg rules diff", style="bold"), Text(f"  {diff.accounts:,} accounts", style="bold cyan"))
    console.print(
        Text(f"base {diff.base}  ·  rules {diff.rules}  ·  source {diff.source}  ·  as of {diff.as_of}", style="dim")
    )
    console.print(Text(_headline(diff), style="bold yellow" if diff.moved else "green"))
    for d in diff.dimensions:
        console.print()
        console.print(Text(f"{d.name}: {d.moved:,} accounts move ({_pct(d.moved, diff.accounts)})", style="bold"))
        if not d.moved:
            continue
        order = d.order()
        counts = Table(show_edge=False, pad_edge=False, title=Text("counts"), title_justify="left")
        columns: tuple[tuple[str, JustifyMethod], ...] = (
            ("value", "left"),
            ("before", "right"),
            ("after", "right"),
            ("change", "right"),
        )
        for col, just in columns:
            counts.add_column(col, justify=just)
        for v in order:
            delta = d.after[v] - d.before[v]
            counts.add_row(
                Text(v),
                f"{d.before[v]:,}",
                f"{d.after[v]:,}",
                Text(f"{delta:+,}" if delta else "·", style="yellow" if delta else "dim"),
            )
        console.print(counts)
        if len(order) <= MAX_AXIS:
            console.print(terminal_matrix(order, d.matrix, "from → to (base rows, new columns)"))
        moves = Table(
            show_edge=False,
            pad_edge=False,
            title=Text("moves, with sample accounts (rule before → after)"),
            title_justify="left",
        )
        for col in ("from", "to", "accounts", "samples"):
            moves.add_column(col, justify="right" if col == "accounts" else "left")
        for a, b, n in d.moves()[:20]:
            moves.add_row(Text(a), Text(b), f"{n:,}", Text(_sample_text(d, a, b)))
        console.print(moves)
        changed = d.rule_changes()
        if changed:
            hits = Table(show_edge=False, pad_edge=False, title=Text("rule hits"), title_justify="left")
            for col in ("rule", "before", "after", "change"):
                hits.add_column(col, justify="left" if col == "rule" else "right")
            for r, x, y in changed:
                hits.add_row(Text(r), f"{x:,}", f"{y:,}", f"{y - x:+,}")
            console.print(hits)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def diff_markdown(diff: RulesDiff) -> str:
    """Markdown to paste into (or comment on) a pull request."""
    lines = [
        "## crmseg rules diff",
        "",
        f"**{_md(_headline(diff))}** — source `{_md(diff.source)}`, as of {diff.as_of}.",
        "",
    ]
    lines += ["| dimension | accounts moved | share |", "| --- | ---: | ---: |"]
    lines += [f"| {_md(d.name)} | {d.moved:,} | {_pct(d.moved, diff.accounts)} |" for d in diff.dimensions]
    for d in diff.dimensions:
        if not d.moved:
            continue
        order = d.order()
        lines += ["", f"### {_md(d.name)}", "", "| value | before | after | change |", "| --- | ---: | ---: | ---: |"]
        for v in order:
            delta = d.after[v] - d.before[v]
            lines.append(f"| {_md(v)} | {d.before[v]:,} | {d.after[v]:,} | {f'{delta:+,}' if delta else '·'} |")
        if len(order) <= MAX_AXIS:
            lines += ["", "From → to (rows: base rules, columns: new rules):", "", *markdown_matrix(order, d.matrix)]
        lines += ["", "| from | to | accounts | sample accounts (rule before → after) |", "| --- | --- | ---: | --- |"]
        lines += [f"| {_md(a)} | {_md(b)} | {n:,} | {_md(_sample_text(d, a, b))} |" for a, b, n in d.moves()[:20]]
        changed = d.rule_changes()
        if changed:
            lines += ["", "| rule | hits before | hits after | change |", "| --- | ---: | ---: | ---: |"]
            lines += [f"| {_md(r)} | {x:,} | {y:,} | {y - x:+,} |" for r, x, y in changed]
    return "\n".join(lines) + "\n"


_CSS = (
    "body{font:14px/1.5 -apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1e293b;background:#f8fafc;margin:0}\n"
    "main{max-width:1080px;margin:0 auto;padding:32px 24px}"
    "section{background:#fff;border:1px solid #e2e8f0;border-radius:10px;\n"
    "padding:16px 20px;margin:16px 0}table{border-collapse:collapse;margin:8px 0}"
    "th,td{padding:4px 10px;border-bottom:1px solid\n"
    "#e2e8f0;text-align:left}.n{text-align:right;font-variant-numeric:tabular-nums}.scroll{overflow-x:auto}\n"
    "caption{text-align:left;color:#64748b;font-size:12px}.muted{color:#64748b}"
)


def diff_html(diff: RulesDiff) -> str:
    """One self-contained HTML page (inline CSS, no scripts, nothing fetched)."""

    def esc(s: object) -> str:
        return html.escape(str(s), quote=True)

    parts = [
        (
            f"<h1>crmseg rules diff</h1><p><b>{esc(_headline(diff))}</b></p>"
            f'<p class="muted">source {esc(diff.source)} · as of {esc(diff.as_of)}</p>'
        )
    ]
    for d in diff.dimensions:
        sec = [f"<h2>{esc(d.name)}: {d.moved:,} accounts move ({_pct(d.moved, diff.accounts)})</h2>"]
        if d.moved:
            order = d.order()
            rows = "".join(
                f'<tr><td>{esc(v)}</td><td class="n">{d.before[v]:,}</td><td class="n">{d.after[v]:,}</td>'
                f'<td class="n">{d.after[v] - d.before[v]:+,}</td></tr>'
                for v in order
            )
            sec.append(
                f'<table><thead><tr><th>value</th><th class="n">before</th><th class="n">after</th>'
                f'<th class="n">change</th></tr></thead><tbody>{rows}</tbody></table>'
            )
            if len(order) <= MAX_AXIS:
                sec.append(html_matrix(order, d.matrix, "from → to (rows: base rules, columns: new rules)"))
            moves = "".join(
                f'<tr><td>{esc(a)}</td><td>{esc(b)}</td><td class="n">{n:,}</td>'
                f"<td>{esc(_sample_text(d, a, b))}</td></tr>"
                for a, b, n in d.moves()[:50]
            )
            sec.append(
                f'<table><thead><tr><th>from</th><th>to</th><th class="n">accounts</th><th>sample accounts '
                f"(rule before → after)</th></tr></thead><tbody>{moves}</tbody></table>"
            )
            hits = "".join(
                f'<tr><td>{esc(r)}</td><td class="n">{x:,}</td><td class="n">{y:,}</td>'
                f'<td class="n">{y - x:+,}</td></tr>'
                for r, x, y in d.rule_changes()
            )
            if hits:
                sec.append(
                    f'<table><thead><tr><th>rule</th><th class="n">hits before</th><th class="n">hits after'
                    f'</th><th class="n">change</th></tr></thead><tbody>{hits}</tbody></table>'
                )
        parts.append(f'<section id="dim-{esc(d.name)}">{"".join(sec)}</section>')
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\"><title>crmseg rules diff</title>"
        f"<style>{_CSS}</style></head><body><main>{''.join(parts)}</main></body></html>\n"
    )
