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
    from crmseg.sync.outcome import RunProgress


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
@click.option(
    "--undo",
    type=click.IntRange(min=1),
    metavar="RUN",
    help="Instead of applying the rules, write back the values run RUN replaced, where no later run "
    "changed them again (the others are listed); a run of its own. With --dry-run: show them only.",
)
@click.option("--force", is_flag=True, help="With --undo: also restore tags a later run changed again.")
@ENGINE
@click.option("--quiet", "-q", is_flag=True, help="Only the run summary.")
def sync(
    config: str,
    sync_name: str | None,
    dry_run: bool,
    full: bool,
    allow_changes: int | None,
    undo: int | None,
    force: bool,
    engine: str | None,
    quiet: bool,
) -> None:
    """Run one sync now: write changed tags back, record state and drift.

    Exit 0 all written, 1 some records failed or the run stopped (the change guard included),
    2 bad config/rules (or a run --undo refuses), 3 locked."""
    from crmseg.heap import frozen_heap
    from crmseg.sync.service import SyncService

    if force and undo is None:
        raise click.UsageError("--force goes with --undo RUN")
    if undo is not None and full:
        raise click.UsageError("--undo reads nothing from the CRM: --full does not apply")
    cfg = load_config(config)
    if undo is not None:
        _undo(cfg, sync_name, engine, undo, force, dry_run, allow_changes, quiet)
        return
    if dry_run:
        _dry_run(cfg, sync_name, engine, quiet, allow_changes)
        return
    service = SyncService(cfg)
    stop = threading.Event()
    signals: list[int] = []
    with service.plan(sync_name, engine=engine, stop=stop) as planned:
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


def _undo(
    cfg: Config,
    sync_name: str | None,
    engine: str | None,
    undo: int,
    force: bool,
    dry_run: bool,
    allow_changes: int | None,
    quiet: bool,
) -> None:
    """``sync --undo RUN``: the undo run (or, with ``--dry-run``, what it would restore)."""
    from crmseg.sync.service import SyncService

    service = SyncService(cfg)
    console = Console(soft_wrap=True)
    planned = service.plan(sync_name, engine=engine)  # the mapping, the CRM and the dimensions' kinds
    live = planned.plan.fingerprint
    if dry_run:
        plan = service.preview_undo(planned, undo, force)
        print_undo(plan, console, live, dry_run=True)
        console.print("dry run: nothing was written and no run was recorded", highlight=False)
        return
    stop = threading.Event()
    signals: list[int] = []
    with _stop_on_signals(stop, signals), _ticker(quiet) as tick:
        outcome = service.run(planned, stop=stop, tick=tick, allow_changes=allow_changes, undo=undo, force=force)
    print_outcome(outcome, console)
    if outcome.undo is not None:
        print_undo(outcome.undo, console, live, dry_run=False)
    if signals and outcome.status == "aborted":
        sys.exit(130 if signals[0] == signal.SIGINT else 143)
    sys.exit(outcome.exit_code)


UNDO_SHOWN = 50  # tags listed per part of an undo's summary (a dry run lists them all)


def print_undo(plan: Any, console: Console, live: str | None, *, dry_run: bool) -> None:
    """An undo's restored tags, the tags it left (and why), and what the next run will do."""
    shown = None if dry_run else UNDO_SHOWN
    verb = "would restore" if dry_run else "restored"
    console.print(
        f"undo of run {plan.run}: {verb} {len(plan.restore):,} tag value(s) on {len(plan.accounts):,} account(s)",
        highlight=False,
    )
    for r in plan.restore[:shown]:
        again = f" (changed again by run {r.later_run}; --force)" if r.later_run is not None else ""
        console.print(
            f"  {r.account} {r.dimension}: {r.now or '(none)'} -> {r.before or '(none)'}{again}",
            highlight=False,
            markup=False,
        )
    if shown is not None and len(plan.restore) > shown:
        console.print(f"  ... and {len(plan.restore) - shown:,} more (`crmseg history` per account)", highlight=False)
    if plan.left:
        console.print(
            f"left as they are ({len(plan.left):,}; --force restores those a later run changed):",
            highlight=False,
        )
        for x in plan.left[:shown]:
            console.print(
                f"  {x.account} {x.dimension}: now {x.now or '(none)'}, before run {plan.run} "
                f"{x.before or '(none)'}: {x.reason}",
                highlight=False,
                markup=False,
            )
        if shown is not None and len(plan.left) > shown:
            console.print(f"  ... and {len(plan.left) - shown:,} more (--dry-run lists them all)", highlight=False)
    if plan.restore:
        console.print(f"[bold yellow]next run[/]: {plan.hold_note(live)}", highlight=False)


SKIPPED_SHOWN = 10  # skipped input rows named in the run summary (all are counted and logged)


def print_outcome(out: Any, console: Console) -> None:
    """The run summary: status, counts, API calls, watermark and the failed records."""
    c = out.counts
    console.print(
        f"sync '{out.sync}' run {out.run_id}: [bold]{out.status}[/bold] ({_mode_text(out.mode)}"
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
    if out.removed:
        console.print(f"  deleted in the CRM: {out.removed:,} account(s), out of the population now", highlight=False)
    if out.deals is not None:
        print_deals(out.deals, console)
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
    if out.held_note:
        console.print(f"  [bold yellow]undo holds[/]: {out.held_note}", highlight=False)
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


def print_deals(d: Any, console: Console) -> None:
    """The deal step's line (:class:`crmseg.sync.deals_step.DealsRead`) and its bad deals."""
    console.print(
        f"  deals: {d.mode} read {d.read:,} (open {d.by_status['open']:,} · won {d.by_status['won']:,} · "
        f"lost {d.by_status['lost']:,}) · no account {d.no_account:,} · unknown account {d.unknown_account:,} · "
        f"bad {d.bad:,} · removed {d.removed:,}",
        highlight=False,
    )
    if d.bad:
        console.print(f"  [bold yellow]{d.bad:,} bad deal(s)[/] not recorded (each is in the log):", highlight=False)
        for text in d.problems[:SKIPPED_SHOWN]:
            console.print(f"    {text}", highlight=False, markup=False)


def _mode_text(mode: str) -> str:
    """``full read``, ``incremental read``; an undo reads nothing."""
    return "undo, nothing read" if mode == "undo" else f"{mode} read"


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
