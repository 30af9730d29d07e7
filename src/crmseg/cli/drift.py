"""``crmseg drift``: a sync's segment drift over a period, read from its state store.

Reads only: the config, the rules folder's ``dimension``/``kind`` keys (to know which
dimensions are scores) and the state file. Never writes to a CRM or to sync state.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from crmseg.config import Config
from crmseg.dates import parse_iso

if TYPE_CHECKING:
    from crmseg.state.store import RunRow, StateStore

CHUNK = 500  # run ids per store query (stays far below SQLite's variable limit)


def parse_since(value: str) -> datetime:
    """An ISO date (midnight UTC) or datetime (UTC when it has no offset) as an aware datetime."""
    try:
        return parse_iso(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO date (2024-06-01) or datetime (2024-06-01T08:00:00Z)") from None


def _since_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def rule_kinds(rules_dir: Path) -> dict[str, str]:
    """``dimension -> kind`` from a rules folder, read leniently (a broken or missing file is skipped)."""
    return {name: kind for name, (kind, _) in rule_dimensions(rules_dir).items()}


def rule_dimensions(rules_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """``dimension -> (kind, declared values)`` from a rules folder, read leniently (a broken
    or missing file is skipped; values that are not a list of text are left out)."""
    dims: dict[str, tuple[str, list[str]]] = {}
    for path in sorted(rules_dir.glob("*.toml")) if rules_dir.is_dir() else []:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            continue
        name, kind, values = data.get("dimension"), data.get("kind", "label"), data.get("values")
        if isinstance(name, str) and isinstance(kind, str):
            listed = [str(v) for v in values] if isinstance(values, list) else []
            dims[name] = (kind, listed)
    return dims


RunRange = tuple[int | None, int | None]


def parse_runs(value: str) -> RunRange:
    """``A..B`` (either end may be left out: ``A..``, ``..B``) as ``(A, B)``; ``N`` alone is ``(N, N)``."""
    text = value.strip()
    lo, sep, hi = text.partition("..")
    try:
        a = int(lo) if lo.strip() else None
        b = int(hi) if hi.strip() else None
        if not sep:
            a = b = int(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a run range: use A..B with run ids (e.g. 3..7, 3.. or ..7)") from None
    if sep and a is None and b is None:
        raise ValueError(f"{value!r} is not a run range: give at least one end (e.g. 3..7, 3.. or ..7)")
    for n in (a, b):
        if n is not None and n < 1:
            raise ValueError(f"{value!r}: run ids start at 1")
    if a is not None and b is not None and a > b:
        raise ValueError(f"{value!r}: the range is reversed (the first run is after the last); use {b}..{a}")
    return a, b


def _runs_option(ctx: click.Context, param: click.Parameter, value: str | None) -> RunRange | None:
    if value is None:
        return None
    try:
        return parse_runs(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def score_dimensions(kinds: dict[str, str], snapshots: dict[int, dict[str, dict[str, int]]]) -> set[str]:
    """Scores per the rules; a dimension the rules no longer define is a score when all its labels are numbers."""
    from crmseg.drift.measures import numeric_dimensions

    numeric = numeric_dimensions(snapshots)
    dims = {d for snap in snapshots.values() for d in snap}
    return {d for d in dims if kinds.get(d) == "score" or (d not in kinds and d in numeric)}


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)]


def select_runs(runs: Sequence[RunRow], sync: str, span: RunRange) -> list[RunRow]:
    """The runs of ``span``. Raises ValueError naming the sync's runs when an end of ``span``
    is not one of them."""
    known = sorted(r.id for r in runs)
    a, b = span
    for end in (a, b):
        if end is not None and end not in known:
            raise ValueError(f"run {end} is not a run of sync '{sync}' ({_run_list(known)})")
    return [r for r in runs if (a is None or r.id >= a) and (b is None or r.id <= b)]


def _latest_with_snapshot(store: StateStore, sync: str, runs: Sequence[RunRow]) -> RunRow | None:
    """The newest of ``runs`` that left a count snapshot (failed and aborted runs leave none)."""
    by_id = {r.id: r for r in runs}
    for part in reversed(_chunks([r.id for r in runs])):
        snaps = store.snapshots(sync, part)
        if snaps:
            return by_id[max(snaps)]
    return None


def _run_list(ids: Sequence[int]) -> str:
    """``runs 1–4, 7`` for messages."""
    if not ids:
        return "no runs recorded"
    parts: list[str] = []
    start = prev = ids[0]
    for i in [*ids[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}–{prev}")
        if i is not None:
            start = prev = i
    return ("run " if len(ids) == 1 else "runs ") + ", ".join(parts)


def load_drift(
    cfg: Config,
    sync_cfg: Any,
    since: datetime | None,
    dims: dict[str, tuple[str, list[str]]],
    span: RunRange | None = None,
) -> dict[str, Any] | None:
    """The drift document of a sync from the state store; None when it recorded no run (in the period).

    With ``span`` (``--run``/``--runs``): the moves logged by those runs, and PSI from the
    latest snapshot before them (the baseline, listed first in ``runs``) to their last one.
    Raises ValueError for a span that names no run of the sync."""
    from crmseg.drift.measures import attach_names, drift_report, flapping_accounts
    from crmseg.state import open_state
    from crmseg.state.store import iso
    from crmseg.sync.names import names_of

    sync = sync_cfg.name
    store = open_state(cfg, create=False)
    if store is None:
        if span is not None:
            raise ValueError(f"run {span[0] or span[1]} is not a run of sync '{sync}' (no runs recorded)")
        return None
    try:
        recorded = store.runs(sync, since=iso(since) if since else None)
        runs, baseline = recorded, None
        if span is not None:
            runs = select_runs(recorded, sync, span)
            baseline = _latest_with_snapshot(store, sync, [r for r in recorded if r.id < runs[0].id])
        if not runs:
            return None
        ids = [r.id for r in runs]
        snapshots: dict[int, dict[str, dict[str, int]]] = {}
        transitions: list[Any] = []
        for part in _chunks(ids):
            snapshots.update(store.snapshots(sync, part))
            transitions += store.transitions(sync, run_ids=part)
        if baseline is not None:
            snapshots.update(store.snapshots(sync, [baseline.id]))
        kinds = {name: kind for name, (kind, _) in dims.items()}
        values = {name: vals for name, (kind, vals) in dims.items() if kind != "score" and vals}
        report = drift_report(
            [baseline, *runs] if baseline is not None else runs,
            snapshots,
            transitions,
            score_dimensions(kinds, snapshots),
            values=values,
        )
        attach_names(report, names_of(cfg, sync_cfg, store, flapping_accounts(report)))
    finally:
        store.close()
    if span is not None:
        report["period"] = {
            "first_run": ids[0],
            "last_run": ids[-1],
            "baseline_run": baseline.id if baseline is not None else None,
        }
    return report


@click.command()
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True),
    required=True,
    help="config.toml naming the sync and its state file.",
)
@click.option("--sync", "sync_name", help="Which sync of the config (needed when it has several).")
@click.option(
    "--since",
    callback=_since_option,
    metavar="DATE",
    help="Only runs started at or after DATE (ISO date or datetime; UTC unless it has an offset).",
)
@click.option(
    "--run",
    "one_run",
    type=click.IntRange(min=1),
    metavar="N",
    help="Only the moves of run N (PSI against the latest snapshot before it).",
)
@click.option(
    "--runs",
    "run_span",
    callback=_runs_option,
    metavar="A..B",
    help="Only the moves of runs A to B, both included (A.. or ..B leave an end open); PSI against "
    "the latest snapshot before A.",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the drift report as JSON.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
def drift(
    config: str,
    sync_name: str | None,
    since: datetime | None,
    one_run: int | None,
    run_span: RunRange | None,
    json_out: str | None,
    html_out: str | None,
) -> None:
    """Segment drift: PSI, transitions, flapping.

    Per dimension: label counts per run, the from → to transition matrix of real moves, the
    accounts that moved most often and the PSI between the period's first and last snapshot;
    tags set by an account's first evaluation (out of (none)) are the initial load, shown
    apart. Exit 0; 2 bad usage, config or an unknown run."""
    import json

    from crmseg.config import load_config
    from crmseg.drift.measures import drift_report
    from crmseg.report.drift_html import write_drift_html
    from crmseg.report.drift_terminal import render_drift
    from crmseg.report.files import atomic_write
    from crmseg.state.store import iso

    if sum(x is not None for x in (since, one_run, run_span)) > 1:
        raise click.UsageError("give one of --since, --run and --runs")
    span = (one_run, one_run) if one_run is not None else run_span
    cfg = load_config(config)
    sync = cfg.sync(sync_name)
    try:
        report = load_drift(cfg, sync, since, rule_dimensions(cfg.resolve(sync.rules)), span)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--run'" if one_run is not None else "'--runs'") from None
    console = Console()
    empty = report is None
    if report is None:
        report = drift_report([], {}, [])
    report = {"sync": sync.name, "since": iso(since) if since else None, **report}
    if json_out:
        atomic_write(Path(json_out), json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    if html_out:
        write_drift_html(report, html_out)
    if empty:
        period = f" since {iso(since)}" if since else ""
        click.echo(f"sync '{sync.name}': no runs recorded{period}; nothing to compare yet")
    elif not report["runs"]:
        click.echo(f"sync '{sync.name}': no run with a count snapshot (failed or aborted runs only)")
        render_drift(report, console)
    else:
        render_drift(report, console)
    for label, path in (("JSON", json_out), ("HTML report", html_out)):
        if path:
            click.echo(f"{label} written to {path}")
