"""``crmseg sync``: one sync run now (or ``--dry-run``: the audit of what it would write)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from crmseg.cli.options import ENGINE, Progress, SyncProgress, err, log_lines, sync_log_lines
from crmseg.config import Config, load_config

if TYPE_CHECKING:
    from crmseg.sync.runner import RunProgress


@click.command()
@click.option("--config", type=click.Path(dir_okay=False, exists=True), required=True, help="config.toml.")
@click.option("--sync", "sync_name", help="Which sync of the config (needed when it has several).")
@click.option("--dry-run", is_flag=True, help="Read, evaluate and diff only: write nothing, keep no state.")
@click.option(
    "--full",
    is_flag=True,
    help="Read every account (not only those modified since the last run); "
    "also retries records blocked by a permanent error.",
)
@click.option(
    "--allow-changes",
    type=click.IntRange(min=0),
    metavar="N",
    help="Let this run change up to N accounts, whatever the sync's max_changes allows "
    "(the change guard; a run that would change more writes nothing).",
)
@ENGINE
@click.option("--quiet", "-q", is_flag=True, help="Only the run summary.")
def sync(
    config: str,
    sync_name: str | None,
    dry_run: bool,
    full: bool,
    allow_changes: int | None,
    engine: str | None,
    quiet: bool,
) -> None:
    """Run one sync now: write changed tags back, record state and drift.

    Exit 0 all written, 1 some records failed or the run stopped (the change guard included),
    2 bad config/rules, 3 locked."""
    from crmseg.heap import frozen_heap
    from crmseg.sync.service import SyncService

    cfg = load_config(config)
    if dry_run:
        _dry_run(cfg, sync_name, engine, quiet, allow_changes)
        return
    service = SyncService(cfg)
    stop = threading.Event()
    signals: list[int] = []
    with service.plan(sync_name, engine=engine) as planned:
        for line in planned.alerts.lints if planned.alerts else ():
            err(f"warning: {line}")
        planned.refuse_failing_tests()
        with _stop_on_signals(stop, signals), _ticker(quiet) as tick, frozen_heap():
            outcome = service.run(planned, full=full, stop=stop, tick=tick, allow_changes=allow_changes)
    print_outcome(outcome, Console(soft_wrap=True))
    if signals and outcome.status == "aborted":
        sys.exit(130 if signals[0] == signal.SIGINT else 143)
    sys.exit(outcome.exit_code)


def _dry_run(cfg: Config, sync_name: str | None, engine: str | None, quiet: bool, allow_changes: int | None) -> None:
    """The audit pipeline, stopped after the diff: nothing written, no state touched."""
    from crmseg.audit.guard import ChangeLimit
    from crmseg.audit.plan import plan_config
    from crmseg.audit.run import run_audit
    from crmseg.heap import frozen_heap
    from crmseg.report.terminal import render

    plan = plan_config(cfg, sync_name, engine)
    if allow_changes is not None:
        plan.guard = ChangeLimit.of(None, allow_changes)
    try:
        with ExitStack() as stack:  # nothing is synced: the audit's own progress ("auditing")
            tick = None if quiet else stack.enter_context(Progress()) if sys.stderr.isatty() else log_lines()
            stack.enter_context(frozen_heap())
            summary = run_audit(plan, tick=tick)
    finally:
        plan.close()
    console = Console()
    if not quiet:
        render(summary, console)
    console.print(
        "dry run: nothing was written and no sync state was kept; the changes above are what `crmseg sync` would write",
        highlight=False,
    )


SKIPPED_SHOWN = 10  # skipped input rows named in the run summary (all are counted and logged)


def print_outcome(out: Any, console: Console) -> None:
    """The run summary: status, counts, API calls, watermark and the failed records."""
    c = out.counts
    console.print(
        f"sync '{out.sync}' run {out.run_id}: [bold]{out.status}[/bold] ({out.mode} read"
        f"{', every account re-evaluated' if out.reevaluated_all and out.mode == 'incremental' else ''}, "
        f"{out.duration_s:.1f} s)",
        highlight=False,
    )
    console.print(
        f"  read {c['read']:,} · evaluated {c['evaluated']:,} · changed {c['changed']:,} · "
        f"written {c['written']:,} · failed {c['failed']:,} · pinned {c['pinned']:,} · "
        f"blocked {c['blocked']:,}",
        highlight=False,
    )
    calls = f"  API calls {c['api_calls']:,}"
    if out.api_remaining:
        calls += f" (daily allowance: {out.api_remaining[0]:,} of {out.api_remaining[1]:,} left)"
    console.print(calls, highlight=False)
    if out.watermark_after:
        console.print(
            f"  watermark {out.watermark_before or '(none: full read)'} -> {out.watermark_after}", highlight=False
        )
    if out.changes_file:
        console.print(f"  changes file (import-ready): {out.changes_file}", highlight=False)
    if out.drift_alert:
        console.print(f"  [bold yellow]drift alert[/]: {out.drift_alert}", highlight=False)
    if out.skipped_rows:
        n = len(out.skipped_rows)
        console.print(
            f"  [bold yellow]skipped {n:,} bad input row(s)[/] (skip_bad_rows = true); not evaluated, not written:",
            highlight=False,
        )
        for row in out.skipped_rows[:SKIPPED_SHOWN]:
            console.print(f"    {row}", highlight=False, markup=False)
        if n > SKIPPED_SHOWN:
            console.print(f"    ... and {n - SKIPPED_SHOWN:,} more (each is in the log)", highlight=False)
    if out.message:
        console.print(f"  {out.message}", highlight=False, markup=False)
    for title, rows in (
        ("failed records (retried on the next run unless the error is permanent)", out.failures),
        ("blocked records (a permanent error; fix the cause, then run with --full)", out.blocked),
    ):
        if rows:
            console.print(f"{title}:", highlight=False)
            for rid, error in rows[:50]:
                console.print(f"  {rid}: {error}", highlight=False, markup=False)
            if len(rows) > 50:
                console.print(f"  ... and {len(rows) - 50:,} more (crmseg status --json lists them)", highlight=False)


class _stop_on_signals:
    """First SIGINT/SIGTERM: finish the current batch and stop; a second one exits at once."""

    def __init__(self, stop: threading.Event, seen: list[int]) -> None:
        self.stop, self.seen = stop, seen
        self.old: dict[int, Any] = {}

    def __enter__(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            if self.stop.is_set():
                os._exit(130 if signum == signal.SIGINT else 143)
            self.seen.append(signum)
            self.stop.set()
            err(
                f"{signal.Signals(signum).name}: finishing the current batch, then stopping "
                "(send it again to stop at once)"
            )

        for sig in (signal.SIGINT, signal.SIGTERM):
            self.old[sig] = signal.signal(sig, handler)

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self.old.items():
            signal.signal(sig, old)


class _ticker:
    """Progress for a run: a live line on a TTY, plain lines otherwise, nothing when quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.inner: SyncProgress | None = None

    def __enter__(self) -> Callable[[RunProgress], None] | None:
        if self.quiet:
            return None
        if sys.stderr.isatty():
            self.inner = SyncProgress()
            return self.inner.__enter__()
        return sync_log_lines()

    def __exit__(self, *exc: Any) -> None:
        if self.inner is not None:
            self.inner.__exit__(*exc)
