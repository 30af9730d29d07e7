"""``crmseg drift``: a sync's segment drift over a period, read from its state store.

Reads only: the config, the rules folder's ``dimension``/``kind`` keys (to know which
dimensions are scores) and the state file. Never writes to a CRM or to sync state.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from crmseg.config import Config
from crmseg.dates import parse_iso

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
    kinds: dict[str, str] = {}
    for path in sorted(rules_dir.glob("*.toml")) if rules_dir.is_dir() else []:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            continue
        name, kind = data.get("dimension"), data.get("kind", "label")
        if isinstance(name, str) and isinstance(kind, str):
            kinds[name] = kind
    return kinds


def score_dimensions(kinds: dict[str, str], snapshots: dict[int, dict[str, dict[str, int]]]) -> set[str]:
    """Scores per the rules; a dimension the rules no longer define is a score when all its labels are numbers."""
    from crmseg.drift.measures import numeric_dimensions

    numeric = numeric_dimensions(snapshots)
    dims = {d for snap in snapshots.values() for d in snap}
    return {d for d in dims if kinds.get(d) == "score" or (d not in kinds and d in numeric)}


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)]


def load_drift(cfg: Config, sync: str, since: datetime | None, kinds: dict[str, str]) -> dict[str, Any] | None:
    """The drift document of ``sync`` from the state store; None when it recorded no run."""
    from crmseg.drift.measures import drift_report
    from crmseg.state import open_state
    from crmseg.state.sql import iso

    store = open_state(cfg, create=False)
    if store is None:
        return None
    try:
        runs = store.runs(sync, since=iso(since) if since else None)
        if not runs:
            return None
        ids = [r.id for r in runs]
        snapshots: dict[int, dict[str, dict[str, int]]] = {}
        transitions: list[Any] = []
        for part in _chunks(ids):
            snapshots.update(store.snapshots(sync, part))
            transitions += store.transitions(sync, run_ids=part)
    finally:
        store.close()
    return drift_report(runs, snapshots, transitions, score_dimensions(kinds, snapshots))


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
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the drift report as JSON.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
def drift(
    config: str, sync_name: str | None, since: datetime | None, json_out: str | None, html_out: str | None
) -> None:
    """Segment drift: PSI, transitions, flapping.

    Per dimension: label counts per run, the from → to transition matrix, the accounts that
    moved most often and the PSI between the period's first and last snapshot."""
    import json

    from crmseg.config import load_config
    from crmseg.drift.measures import drift_report
    from crmseg.report.drift_html import write_drift_html
    from crmseg.report.drift_terminal import render_drift
    from crmseg.report.files import atomic_write
    from crmseg.state.sql import iso

    cfg = load_config(config)
    sync = cfg.sync(sync_name)
    report = load_drift(cfg, sync.name, since, rule_kinds(cfg.resolve(sync.rules)))
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
