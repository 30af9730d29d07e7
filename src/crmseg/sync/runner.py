"""One sync run: read -> local copy -> evaluate -> diff -> write (outbox) -> record.

The run, step by step (the lease is held by the caller):

1. Runs left ``running`` by a dead process are marked ``aborted``.
2. **Mode.** A *full* read on the first run, with ``--full``, when the fields read changed
   (mapping edit) or when the last full read is older than ``full_every``; otherwise an
   *incremental* read from the watermark (``SystemModstamp`` / ``hs_lastmodifieddate``).
3. **Identity** of the CRM checked against the one the state belongs to (recorded by the first
   run; :mod:`crmseg.sync.identity`): another CRM fails the run before anything is read.
   **Read** into the state's local copy of the fields crmseg reads. The watermark for the
   next run is the CRM's own clock (its ``Date`` header) *before* the read started, so it
   never passes the run's start and crmseg's own writes are read back exactly once.
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
9. **Record**: the watermark and fingerprints; the run's status and counts.

A run stopped by a signal, the API budget or the change guard ends ``aborted`` with state consistent; a
fatal CRM error ends ``failed``. Neither advances the watermark.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crmseg.audit.guard import ChangeGuardTripped, ChangeLimit, GuardCheck
from crmseg.audit.plan import Plan
from crmseg.config import CHANGES_FILE, FileSync, SyncConfig, parse_interval
from crmseg.connectors.base import TagSink
from crmseg.dates import INVALID, parse_datetime, parse_iso
from crmseg.drift.measures import flag, snapshot_psi
from crmseg.errors import CrmsegError
from crmseg.model import RawRecord
from crmseg.state.store import Confirmed, DimTag, PendingWrite, RecordError, StateStore, SyncState, iso
from crmseg.sync.budget import Budget, BudgetExhausted
from crmseg.sync.changes_file import ChangesFile
from crmseg.sync.deals_step import DealsRead, deal_step
from crmseg.sync.decide import AccountPlan, account_plan, applied
from crmseg.sync.fingerprint import read_fingerprint, rules_fingerprint, time_dependent
from crmseg.sync.identity import bind
from crmseg.sync.undo import Holds, UndoPlan, active_holds
from crmseg.sync.writer import StopRequested, Writer

log = logging.getLogger(__name__)
CHUNK = 1000


@dataclass(frozen=True)
class RunProgress:
    """Where a run is, for a progress display: its phase and the counts so far.

    ``phase``: ``read`` (reading into the local copy), ``guard`` (counting the changes for the
    change guard; ``checked`` accounts so far), ``evaluate`` (evaluating; writes go out in
    batches meanwhile) or ``done`` (the last write answered)."""

    phase: str
    read: int
    evaluated: int
    written: int
    failed: int
    checked: int = 0

    @property
    def count(self) -> int:
        """The phase's own counter: accounts read, checked or evaluated."""
        return {"read": self.read, "guard": self.checked}.get(self.phase, self.evaluated)


@dataclass
class SyncOptions:
    full: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    #: Progress: after each chunk read, checked or evaluated and after each write batch.
    tick: Callable[[RunProgress], None] | None = None
    holder: str = ""
    #: ``--allow-changes N``: this run may change up to N accounts, whatever ``max_changes`` says.
    allow_changes: int | None = None


@dataclass
class SyncOutcome:
    run_id: int
    sync: str
    status: str
    mode: str
    counts: dict[str, int]
    started_at: str
    duration_s: float
    message: str | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)
    blocked: list[tuple[str, str]] = field(default_factory=list)
    watermark_before: str | None = None
    watermark_after: str | None = None
    api_remaining: tuple[int, int] | None = None
    changes_file: str | None = None
    reevaluated_all: bool = False
    drift_alert: str | None = None
    error: CrmsegError | None = None
    #: Input rows a file sync left out (``skip_bad_rows = true``), as ``file:line: problem``.
    skipped_rows: list[str] = field(default_factory=list)
    #: Accounts whose tags an undo restored and this run held (the rules would change them again).
    held: int = 0
    held_note: str | None = None
    #: An undo run's plan: what it restored and what it left (``crmseg sync --undo``).
    undo: UndoPlan | None = None
    #: What the deal step read (a sync with ``deals``), None otherwise.
    deals: DealsRead | None = None

    @property
    def exit_code(self) -> int:
        if self.status == "succeeded":
            return 0
        if self.error is not None:
            return self.error.exit_code
        return 1


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
        self.blocked: list[tuple[str, str]] = []
        self.read_fields = self.norm.read_fields(self.dims)
        self.rules_fp = plan.fingerprint or rules_fingerprint(
            plan.rules.source or plan.rules_dir, plan.mapping.path or None
        )
        self.read_fp = read_fingerprint(self.read_fields)
        self.changes_path = changes_path
        self.changes: ChangesFile | None = None
        self.holds = Holds({})
        self.held = 0  # accounts with a held tag the rules would change (see crmseg.sync.undo)
        self.writer: Writer | None = None

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

    def _full_read(self, state: SyncState, now: datetime) -> bool:
        if self.opts.full or self.is_file or state.watermark is None or state.read_fingerprint != self.read_fp:
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
        read_ids = self._read(since, budget)
        errors = store.record_errors(sync)
        outbox = store.outbox(sync)
        wanted: set[str] | None = None  # None: every account of the local copy
        if not (full or reeval):
            wanted = read_ids | {rid for rid, e in errors.items() if not e.permanent} | set(outbox)
        engine = self.plan.rules_engine()
        self.holds = active_holds(store, sync, self.rules_fp)
        limit = ChangeLimit.of(self.cfg.max_changes, self.opts.allow_changes)
        if limit is not None:
            self._guard(limit, store.iter_accounts(sync, wanted), engine, errors, full)
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
            for chunk in _chunks(accounts, CHUNK):
                self._check_stop()
                self._evaluate_chunk(chunk, engine, writer, outbox, errors, full)
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
            out.blocked = self.blocked
            out.held = self.held
        if self.held:
            out.held_note = (
                f"held {self.held:,} account(s) at the values undo restored (run(s) "
                f"{', '.join(map(str, self.holds.undone))} undone; the rules are still the ones those runs used): "
                "edit the rules to release them"
            )
            log.warning("sync %s: %s", sync, out.held_note)
        if self.changes is not None:
            out.changes_file = str(self.changes.commit())
        if full:
            gone = store.mark_absent(sync, run)
            if gone:
                log.info("sync %s: %d account(s) no longer in the source left the population", sync, gone)
        self.snapshot = store.write_snapshot(sync, run, self.dims)
        out.drift_alert = self._drift_alert()
        if deals is not None:  # the deals' watermark: the run's start on the CRM's clock, as the accounts' read
            out.deals = deals.run(store, run, state, full=full, mark=t0, budget=budget, check_stop=self._check_stop)
        mark = _watermark(t0, self.newest_read, self._server_time())
        wm_after = iso(mark) if mark is not None else None
        store.save_sync_state(
            sync,
            SyncState(
                watermark=wm_after,
                rules_fingerprint=self.rules_fp,
                read_fingerprint=self.read_fp,
                last_full_at=out.started_at if full else state.last_full_at,
            ),
        )
        return wm_after

    def _read(self, since: datetime | None, budget: Budget) -> set[str]:
        """Stream the source into the local copy; the ids read (kept only for incremental runs)."""
        ids: set[str] = set()
        batch: list[tuple[str, Any]] = []
        keep = since is not None
        n = 0
        mod = self.caps.incremental.modified_field if self.caps.incremental is not None else None
        newest: Any = None  # the latest modification stamp read, as the CRM wrote it (same format throughout)
        for raw in self.connector.read(self.read_fields, since=since):
            batch.append((raw.id, raw.fields))
            stamp = raw.fields.get(mod) if mod else None
            if stamp is not None and (newest is None or str(stamp) > str(newest)):
                newest = stamp
            if keep:
                ids.add(raw.id)
            n += 1
            if len(batch) >= CHUNK:
                self.store.upsert_accounts(self.sync, self.run_id, batch)
                batch = []
                self._check_stop()
                budget.check(1, "reading the next page")
                self.counts["read"] = n
                self._tick("read")
        if batch:
            self.store.upsert_accounts(self.sync, self.run_id, batch)
        self.counts["read"] = n
        self._tick("read")
        self.newest_read = _stamp(newest)
        return ids

    def _evaluate_chunk(
        self,
        chunk: list[tuple[str, dict[str, Any]]],
        engine: Any,
        writer: Writer,
        outbox: dict[str, PendingWrite],
        errors: dict[str, RecordError],
        full: bool,
    ) -> None:
        store, sync, run, norm, dims = self.store, self.sync, self.run_id, self.norm, self.dims
        raws = [RawRecord(rid, data) for rid, data in chunk]
        currents = {r.id: norm.current_tags(r, dims) for r in raws}
        # unresolved writes of an interrupted run: applied if the CRM now holds their targets
        resolved = [outbox.pop(r.id) for r in raws if r.id in outbox]
        if resolved:
            done = [pw for pw in resolved if applied(currents[pw.account], pw.dims)]
            store.confirm(sync, run, self._now(), [Confirmed(pw.account, pw.dims) for pw in done])
            store.drop_outbox(sync, [pw.account for pw in resolved if pw not in done])
        recorded = store.recorded_tags(sync, [r.id for r in raws])
        confirms: list[Confirmed] = []
        tag_field = self.plan.mapping.tag_field
        for raw in raws:
            results = engine.evaluate(norm.account(raw))
            pinned = norm.pinned(raw)
            have = recorded.get(raw.id, {})
            held = self.holds.dims.get(raw.id, ())
            plan = account_plan(results, currents[raw.id], pinned, tag_field, have, held)
            if plan.held:
                self.held += 1
            if self.is_file:  # a file never receives our writes: its old values are not edits
                plan.write = {d: t._replace(crm_before=have.get(d, t.crm_before)) for d, t in plan.write.items()}
                plan.confirm = {
                    d: DimTag(have.get(d), have.get(d), t.rule)
                    if d in held
                    else t._replace(crm_before=have.get(d, t.crm_before))
                    for d, t in plan.confirm.items()
                }  # a held tag keeps the value recorded (the undo's), not the file's
            self.counts["evaluated"] += 1
            if pinned:
                self.counts["pinned"] += 1
            keep = {
                d: t for d, t in plan.confirm.items() if d not in have or have[d] != t.value or t.crm_before != have[d]
            }
            err = errors.get(raw.id)
            if plan.write:
                if err is not None and _blocked(plan, err, full):
                    self.counts["blocked"] += 1
                    self.blocked.append((raw.id, err.error))
                else:
                    self.counts["changed"] += 1
                    writer.add(PendingWrite(raw.id, run, plan.write, plan.fields))
                if keep:
                    confirms.append(Confirmed(raw.id, keep, settles=False))
            elif keep or err is not None:
                confirms.append(Confirmed(raw.id, keep))
        store.confirm(sync, run, self._now(), confirms)
        self._tick("evaluate")

    def _guard(
        self,
        limit: ChangeLimit,
        accounts: Iterable[tuple[str, dict[str, Any]]],
        engine: Any,
        errors: dict[str, RecordError],
        full: bool,
    ) -> None:
        """The change guard, before the first write: evaluate the accounts this run will evaluate
        and count those it would write, exactly as ``_evaluate_chunk`` decides; raise
        ChangeGuardTripped when that is over ``limit``. Reads the local copy only and records
        nothing, so a tripped run leaves the CRM and the recorded tags untouched."""
        norm, dims, tag_field = self.norm, self.dims, self.plan.mapping.tag_field
        changes = seen = 0
        for chunk in _chunks(accounts, CHUNK):
            self._check_stop()
            for rid, data in chunk:
                raw = RawRecord(rid, data)
                results = engine.evaluate(norm.account(raw))
                held = self.holds.dims.get(rid, ())
                plan = account_plan(results, norm.current_tags(raw, dims), norm.pinned(raw), tag_field, {}, held)
                if plan.write and not _blocked(plan, errors.get(rid), full):
                    changes += 1
            seen += len(chunk)
            self._tick("guard", seen)
        check = GuardCheck(limit, changes, self.store.account_count(self.sync))
        if check.tripped:
            self.counts["evaluated"], self.counts["changed"] = seen, changes
            log.warning("sync %s: change guard: %s", self.sync, check.message())
            raise ChangeGuardTripped(check.message(), check)
        log.info("sync %s: change guard: %s", self.sync, check.message())

    def _drift_alert(self) -> str | None:
        """A warning when a dimension's PSI against the previous completed run reaches ``drift_alert_psi``."""
        limit = self.cfg.drift_alert_psi
        if not limit:
            return None
        prev = next(
            (
                r
                for r in reversed(self.store.runs(self.sync))
                if r.id != self.run_id and r.status in ("succeeded", "partial")
            ),
            None,
        )
        if prev is None:
            return None
        before = self.store.snapshots(self.sync, [prev.id]).get(prev.id, {})
        scores = [d.name for d in self.plan.rules.dimensions if d.kind == "score"]
        values = snapshot_psi(before, self.snapshot, scores)
        hits = [f"{dim} PSI {v:.3f} ({flag(v)})" for dim, v in sorted(values.items()) if v >= limit]
        if not hits:
            return None
        text = f"{'; '.join(hits)} against run {prev.id} (drift_alert_psi = {limit})"
        log.warning("sync %s: segment drift: %s", self.sync, text)
        return text

    # ------------------------------------------------------------------ endings
    def _finish(self, out: SyncOutcome, status: str, wm_after: str | None, message: str | None) -> None:
        limits, rows = self.caps.api_limits, self.caps.skipped_rows
        self.counts["api_calls"] = limits.calls if limits is not None else 0
        out.skipped_rows = list(rows.skipped) if rows is not None else []
        out.api_remaining = limits.api_remaining if limits is not None else None
        remaining = out.api_remaining[0] if out.api_remaining else None
        self.store.finish_run(
            self.run_id, status, self._now(), self.counts, wm_after, message, remaining, out.drift_alert
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


def _blocked(plan: AccountPlan, err: RecordError | None, full: bool) -> bool:
    """Whether an account's write is held back: the same targets already failed with a permanent
    error (an incremental run does not retry it; ``--full`` does)."""
    if err is None or not err.permanent or full:
        return False
    return err.targets == {d: t.value for d, t in plan.write.items()}


def _chunks(items: Iterable[tuple[str, dict[str, Any]]], size: int) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    chunk: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stamp(value: Any) -> datetime | None:
    """A CRM modification stamp (ISO text or epoch ms) as an aware datetime, else None."""
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except INVALID:
        return None


def _watermark(before_read: datetime | None, newest: datetime | None, after_read: datetime | None) -> datetime | None:
    """The next run's watermark: the CRM's clock before the read, or the newest stamp the read saw when later.

    Both are on the CRM's clock and no later than the read: a change after the read gets a later
    stamp and is read next time. The ``Date`` header has whole seconds; the newest stamp, finer,
    spares the next run re-reading what this one wrote in the second the read started."""
    if before_read is None:
        return None
    if newest is None or after_read is None or newest <= before_read:
        return before_read
    return min(newest, after_read + timedelta(seconds=1))
