"""One sync run: read -> local copy -> evaluate -> diff -> write (outbox) -> record.

The run, step by step (the lease is held by the caller):

1. Runs left ``running`` by a dead process are marked ``aborted``.
2. **Mode.** A *full* read on the first run, with ``--full``, when the fields read changed
   (mapping edit) or when the last full read is older than ``full_every``; otherwise an
   *incremental* read from the watermark (``SystemModstamp`` / ``hs_lastmodifieddate``). A CRM
   that tracks changes (Dataverse; :class:`~crmseg.connectors.base.ChangeTracking`) is read
   through it: a full read gets a delta link, an incremental one follows the stored link (no
   link stored yet: a full read), deletions included.
3. **Identity** of the CRM checked against the one the state belongs to (recorded by the first
   run; :mod:`crmseg.sync.identity`): another CRM fails the run before anything is read.
   **Read** into the state's local copy of the fields crmseg reads. The watermark for the
   next run is the CRM's own clock (its ``Date`` header) *before* the read started, so it
   never passes the run's start and crmseg's own writes are read back exactly once (so does
   a delta link, issued as the read starts). Accounts change tracking (or, in an incremental
   read, the CRM's list of deleted records) reports deleted leave the population at once. A
   delta link the CRM refuses (expired) makes the read a full one, and the run a full run
   (logged, and noted in the run's message).
4. **Evaluate** the accounts read, those with retriable failures or unresolved outbox entries,
   and — when the rules fingerprint changed or a rule uses ``days_since`` — every account of
   the local copy, with no extra API call.
5. **Change guard** (a sync's ``max_changes``, or ``--allow-changes``): before the first write,
   the accounts of step 4 are evaluated once more and those the run would write counted
   (:mod:`crmseg.audit.guard`); over the limit the run writes nothing and ends ``aborted``.
   Counting in a pass of its own keeps memory flat and the outbox as it is (nothing is
   buffered, nothing recorded before the verdict); the cost is a second evaluation, only
   for syncs that set a guard.
6. **Diff and write** only the changed mapped tag fields of unpinned accounts, in outbox
   batches (:mod:`crmseg.sync.writer`); values the CRM already holds are recorded directly.
   Tags an undo restored are held while the rules are those of the undone run
   (:mod:`crmseg.sync.undo`; the undo run itself is :mod:`crmseg.sync.undo_run`).
7. **Record**: after a full read, accounts not seen leave the population; a count snapshot.
8. **Deals** (a sync with ``deals``; :mod:`crmseg.sync.deals_step`): read into the state and their
   own watermark saved — before the accounts' watermark, so a run that fails here moves neither.
9. **Record**: the watermark, the delta link and fingerprints; the run's status and counts.

Where each step lives: the options, progress and outcome in :mod:`crmseg.sync.outcome`; the
read and the next watermark (steps 3 and 9) in :mod:`crmseg.sync.read`; the evaluation and the
change guard's pass (steps 4 to 6) in :mod:`crmseg.sync.evaluate`; the drift alert of step 7 in
:mod:`crmseg.sync.drift_alert`. This module runs them in order and records the run's end.

A run stopped by a signal, the API budget or the change guard ends ``aborted`` with state consistent; a
fatal CRM error ends ``failed``. Neither advances the watermark.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crmseg.audit.guard import ChangeGuardTripped, ChangeLimit, GuardCheck
from crmseg.audit.plan import Plan
from crmseg.config import CHANGES_FILE, FileSync, SyncConfig, parse_interval
from crmseg.connectors.base import ChangeTracking, TagSink
from crmseg.dates import parse_iso
from crmseg.errors import CrmsegError
from crmseg.state.store import StateStore, SyncState, iso
from crmseg.sync.budget import Budget, BudgetExhausted
from crmseg.sync.changes_file import ChangesFile
from crmseg.sync.deals_step import deal_step
from crmseg.sync.drift_alert import drift_alert
from crmseg.sync.evaluate import CHUNK, Evaluation, Rows, chunks
from crmseg.sync.fingerprint import read_fingerprint, rules_fingerprint, time_dependent
from crmseg.sync.identity import bind
from crmseg.sync.outcome import RunProgress, SyncOptions, SyncOutcome
from crmseg.sync.read import SourceRead, Tracking, next_watermark, read_source
from crmseg.sync.undo import active_holds
from crmseg.sync.writer import StopRequested, Writer

log = logging.getLogger(__name__)


class SyncRun:
    """The state of one run while it goes through its phases."""

    def __init__(
        self,
        plan: Plan,
        sync_cfg: SyncConfig,
        store: StateStore,
        options: SyncOptions,
        changes_path: Path | None = None,
    ) -> None:
        self.plan, self.cfg, self.store, self.opts = plan, sync_cfg, store, options
        self.sync = sync_cfg.name
        self.connector = plan.connector
        self.caps = plan.connector.capabilities
        self.norm = plan.normalizer
        self.dims = plan.rules.names
        self.is_file = isinstance(sync_cfg, FileSync)
        self.counts = dict.fromkeys(
            ("read", "evaluated", "changed", "written", "failed", "pinned", "blocked", "api_calls"), 0
        )
        self.read_fields = self.norm.read_fields(self.dims)
        self.rules_fp = plan.fingerprint or rules_fingerprint(
            plan.rules.source or plan.rules_dir, plan.mapping.path or None
        )
        self.read_fp = read_fingerprint(self.read_fields)
        self.changes_path = changes_path
        self.changes: ChangesFile | None = None
        self.writer: Writer | None = None
        self.tracking = self._tracking()

    # ------------------------------------------------------------------ entry
    def execute(self) -> SyncOutcome:
        started = time.perf_counter()
        now = datetime.now(UTC)
        store, sync = self.store, self.sync
        stale = store.abort_stale_runs(sync, iso(now), "the process running it ended without recording the run")
        if stale:
            log.warning(
                "sync %s: run(s) %s had been left running by a process that died; marked aborted",
                sync,
                ", ".join(map(str, stale)),
            )
        state = store.sync_state(sync)
        full, reeval, mode = self._mode(state, now)
        wm_before = state.watermark if mode == "incremental" else None
        run = store.begin_run(sync, mode, wm_before, self.rules_fp, self.opts.holder, iso(now))
        self.run_id = run
        out = SyncOutcome(
            run,
            sync,
            "running",
            mode,
            self.counts,
            iso(now),
            0.0,
            watermark_before=wm_before,
            reevaluated_all=full or reeval,
        )
        try:
            wm_after = self._run(state, full, reeval, out)
        except BaseException as exc:
            self._end_failed(out, exc)
            out.duration_s = round(time.perf_counter() - started, 3)
            if not isinstance(exc, CrmsegError):
                raise
            return out
        out.watermark_after = wm_after
        out.status = "partial" if self.counts["failed"] else "succeeded"
        self._finish(out, out.status, wm_after, out.message)
        out.duration_s = round(time.perf_counter() - started, 3)
        return out

    def _mode(self, state: SyncState, now: datetime) -> tuple[bool, bool, str]:
        """(full read, re-evaluate every account, the run's mode)."""
        full = self._full_read(state, now)
        reeval = (not full) and (state.rules_fingerprint != self.rules_fp or time_dependent(self.plan.rules))
        return full, reeval, "full" if full else "incremental"

    def _tracking(self) -> ChangeTracking | None:
        """The connector's change tracking, when the CRM tracks the object's changes."""
        tracking = self.caps.change_tracking
        return tracking if tracking is not None and tracking.tracks_changes() else None

    def _full_read(self, state: SyncState, now: datetime) -> bool:
        if self.opts.full or self.is_file or state.watermark is None or state.read_fingerprint != self.read_fp:
            return True
        if self.tracking is not None and state.delta_link is None:
            log.info("sync %s: change tracking: no delta link stored yet, so this run reads every account", self.sync)
            return True
        every = parse_interval(self.cfg.full_every) if self.cfg.full_every else None
        if every and state.last_full_at:
            return state.last_full_at < iso(now - timedelta(seconds=every))
        return False

    # ------------------------------------------------------------------ phases
    def _run(self, state: SyncState, full: bool, reeval: bool, out: SyncOutcome) -> str | None:
        store, sync, run = self.store, self.sync, self.run_id
        deals = deal_step(self.cfg, self.plan)  # a sync asking for deals its connector cannot read fails here
        # before anything is read: the state must belong to the CRM the config reaches
        out.message = bind(store, sync, state, self.caps, state.watermark is not None or store.account_count(sync) > 0)
        budget = Budget(self.caps.api_limits, self.cfg.api_reserve)
        since = None if full or not state.watermark else parse_iso(state.watermark)
        t0 = self._server_time()
        if t0 is None and not self.is_file:
            t0 = datetime.now(UTC) - timedelta(seconds=5)
        tracking = Tracking(self.tracking, None if full else state.delta_link) if self.tracking else None
        read = self._read(since, budget, tracking)
        out.removed = read.removed
        deals_full = full  # the deals keep their own watermark, whatever the accounts' read became
        if read.fell_back is not None:
            full, out.mode = True, "full"
            out.message = "; ".join(filter(None, [out.message, read.fell_back]))
        errors = store.record_errors(sync)
        outbox = store.outbox(sync)
        wanted: set[str] | None = None  # None: every account of the local copy
        if not (full or reeval):
            wanted = read.ids | {rid for rid, e in errors.items() if not e.permanent} | set(outbox)
        engine = self.plan.rules_engine()
        holds = active_holds(store, sync, self.rules_fp)
        evaluation = Evaluation(
            store,
            sync,
            run,
            engine,
            self.norm,
            self.dims,
            self.plan.mapping.tag_field,
            holds,
            errors,
            full,
            self.is_file,
            self.counts,
        )
        limit = ChangeLimit.of(self.cfg.max_changes, self.opts.allow_changes)
        if limit is not None:
            self._guard(limit, evaluation, store.iter_accounts(sync, wanted))
        accounts = store.iter_accounts(sync, wanted)
        if self.is_file:
            self.changes = ChangesFile(
                self.changes_path or Path(CHANGES_FILE.format(sync=sync)),
                self.plan.mapping.id_field,
                [f for d in self.dims if (f := self.plan.mapping.tag_field(d))],
            )
        target: TagSink = self.changes if self.changes is not None else self.connector
        bulk = self.caps.bulk_write if self.changes is None else None
        attempts = {rid: e.attempts for rid, e in errors.items() if not e.permanent}
        writer = Writer(
            target,
            store,
            sync,
            run,
            lambda: iso(datetime.now(UTC)),
            budget,
            self.opts.stop,
            attempts,
            bulk=bulk,
            on_batch=lambda: self._tick("evaluate"),
        )
        self.writer = writer
        try:
            for chunk in chunks(accounts, CHUNK):
                self._check_stop()
                evaluation.chunk(chunk, writer, outbox)
                self._tick("evaluate")
            writer.finish()
            self._tick("done")
        except BaseException:
            if self.changes is not None:
                self.changes.discard()
            raise
        finally:
            self.counts["written"] = writer.stats.written
            self.counts["failed"] = writer.stats.failed
            out.failures = writer.stats.failures
            out.blocked = evaluation.blocked
            out.held = evaluation.held
        if evaluation.held:
            out.held_note = (
                f"held {evaluation.held:,} account(s) at the values undo restored (run(s) "
                f"{', '.join(map(str, holds.undone))} undone; the rules are still the ones those runs used): "
                "edit the rules to release them"
            )
            log.warning("sync %s: %s", sync, out.held_note)
        if self.changes is not None:
            out.changes_file = str(self.changes.commit())
        if full:
            gone = store.mark_absent(sync, run)
            if gone:
                log.info("sync %s: %d account(s) no longer in the source left the population", sync, gone)
        snapshot = store.write_snapshot(sync, run, self.dims)
        out.drift_alert = drift_alert(store, sync, run, snapshot, self.plan.rules.dimensions, self.cfg.drift_alert_psi)
        if out.drift_alert is not None:
            log.warning("sync %s: segment drift: %s", sync, out.drift_alert)
        if deals is not None:  # the deals' watermark: the run's start on the CRM's clock, as the accounts' read
            out.deals = deals.run(
                store, run, state, full=deals_full, mark=t0, budget=budget, check_stop=self._check_stop
            )
        mark = next_watermark(t0, read.newest, self._server_time())
        wm_after = iso(mark) if mark is not None else None
        store.save_sync_state(
            sync,
            SyncState(
                watermark=wm_after,
                rules_fingerprint=self.rules_fp,
                read_fingerprint=self.read_fp,
                last_full_at=out.started_at if full else state.last_full_at,
                delta_link=read.delta_link,
            ),
        )
        return wm_after

    def _read(self, since: datetime | None, budget: Budget, tracking: Tracking | None) -> SourceRead:
        """Stream the source into the local copy (:func:`crmseg.sync.read.read_source`)."""

        def after_chunk(n: int) -> None:
            self._check_stop()
            budget.check(1, "reading the next page")
            self.counts["read"] = n
            self._tick("read")

        incremental = self.caps.incremental
        modified = incremental.modified_field if incremental is not None else None
        read = read_source(
            self.connector,
            self.read_fields,
            modified,
            since,
            self.store,
            self.sync,
            self.run_id,
            CHUNK,
            after_chunk,
            tracking,
        )
        if read.removed:
            log.info("sync %s: %d account(s) deleted in the CRM left the population", self.sync, read.removed)
        self.counts["read"] = read.count
        self._tick("read")
        return read

    def _guard(self, limit: ChangeLimit, evaluation: Evaluation, accounts: Rows) -> None:
        """The change guard, before the first write: count the accounts this run would write
        (:meth:`Evaluation.count_changes`); raise ChangeGuardTripped when that is over ``limit``.
        A tripped run leaves the CRM and the recorded tags untouched."""
        seen, changes = evaluation.count_changes(accounts, self._check_stop, lambda n: self._tick("guard", n))
        check = GuardCheck(limit, changes, self.store.account_count(self.sync))
        if check.tripped:
            self.counts["evaluated"], self.counts["changed"] = seen, changes
            log.warning("sync %s: change guard: %s", self.sync, check.message())
            raise ChangeGuardTripped(check.message(), check)
        log.info("sync %s: change guard: %s", self.sync, check.message())

    # ------------------------------------------------------------------ endings
    def _finish(self, out: SyncOutcome, status: str, wm_after: str | None, message: str | None) -> None:
        limits, rows = self.caps.api_limits, self.caps.skipped_rows
        self.counts["api_calls"] = limits.calls if limits is not None else 0
        out.skipped_rows = list(rows.skipped) if rows is not None else []
        out.api_remaining = limits.api_remaining if limits is not None else None
        remaining = out.api_remaining[0] if out.api_remaining else None
        self.store.finish_run(
            self.run_id, status, self._now(), self.counts, wm_after, message, remaining, out.drift_alert, out.mode
        )

    def _end_failed(self, out: SyncOutcome, exc: BaseException) -> None:
        aborted = isinstance(exc, (StopRequested, BudgetExhausted, ChangeGuardTripped, KeyboardInterrupt))
        out.status = "aborted" if aborted else "failed"
        out.message = str(exc) or type(exc).__name__
        out.error = exc if isinstance(exc, CrmsegError) else None
        try:
            self._finish(out, out.status, None, out.message)
        except Exception as rec_exc:
            log.error("sync %s: could not record the run's end: %s", self.sync, rec_exc)

    def _server_time(self) -> datetime | None:
        """The source's clock at its latest answer; None for a source without one (files)."""
        incremental = self.caps.incremental
        return incremental.server_time if incremental is not None else None

    def _check_stop(self) -> None:
        if self.opts.stop.is_set():
            raise StopRequested("stopped on request; state is consistent and the next run goes on from here")

    def _tick(self, phase: str, checked: int = 0) -> None:
        if self.opts.tick is None:
            return
        c, stats = self.counts, self.writer.stats if self.writer is not None else None
        written, failed = (stats.written, stats.failed) if stats is not None else (c["written"], c["failed"])
        self.opts.tick(RunProgress(phase, c["read"], c["evaluated"], written, failed, checked))

    @staticmethod
    def _now() -> str:
        return iso(datetime.now(UTC))


def run_sync(
    plan: Plan,
    sync_cfg: SyncConfig,
    store: StateStore,
    options: SyncOptions | None = None,
    changes_path: Path | None = None,
) -> SyncOutcome:
    """Run one sync (the caller holds the lease) and return how it ended."""
    return SyncRun(plan, sync_cfg, store, options or SyncOptions(), changes_path).execute()
