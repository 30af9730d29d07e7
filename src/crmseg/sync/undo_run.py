"""The undo run: a sync run (lease, run row, identity check, outbox, snapshot, ending) whose
writes are the values a past run replaced, not the rules' (what to restore: :mod:`crmseg.sync.undo`).

It reads nothing from the CRM and evaluates no rule: the values come from the transition log
and the recorded tags. The watermark and fingerprints stay as they are, so the next ordinary
run reads the undo's writes back once, as it does for any run's. The change guard applies as
to any run: ``max_changes`` against the accounts the undo would write, ``--allow-changes N``
lets one undo through.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from crmseg.audit.guard import ChangeGuardTripped, ChangeLimit, GuardCheck
from crmseg.audit.plan import Plan
from crmseg.config import CHANGES_FILE, SyncConfig
from crmseg.connectors.base import TagSink
from crmseg.model import RawRecord
from crmseg.normalize.normalizer import Normalizer
from crmseg.state.store import Confirmed, DimTag, PendingWrite, StateStore, SyncState, iso
from crmseg.sync.budget import Budget
from crmseg.sync.changes_file import ChangesFile
from crmseg.sync.identity import bind
from crmseg.sync.outcome import SyncOptions, SyncOutcome
from crmseg.sync.runner import SyncRun
from crmseg.sync.undo import UndoPlan, plan_undo, typed_value, undo_rule
from crmseg.sync.writer import Writer

log = logging.getLogger(__name__)


def undo_plan(store: StateStore, sync: str, run: int, norm: Normalizer, force: bool = False) -> UndoPlan:
    """What undoing ``run`` restores and leaves, from the state as it is now."""
    moves = store.transitions(sync, run_ids=[run])
    ids = list(dict.fromkeys(t.account for t in moves))
    records = store.tag_records(sync, ids)
    pinned = {rid for rid, data in store.iter_accounts(sync, ids) if norm.pinned(RawRecord(rid, data))}
    plan = plan_undo(run, moves, records, pinned, force)
    row = store.run(run)
    plan.fingerprint = row.rules_fingerprint if row is not None else None
    return plan


class UndoRun(SyncRun):
    """Puts back the values run ``undo`` replaced (``force``: also those changed again since)."""

    def __init__(
        self,
        plan: Plan,
        sync_cfg: SyncConfig,
        store: StateStore,
        options: SyncOptions,
        undo: int,
        force: bool = False,
        changes_path: Path | None = None,
    ) -> None:
        super().__init__(plan, sync_cfg, store, options, changes_path)
        self.undo, self.force = undo, force

    def _mode(self, state: SyncState, now: datetime) -> tuple[bool, bool, str]:
        return False, False, "undo"

    def _run(self, state: SyncState, full: bool, reeval: bool, out: SyncOutcome) -> str | None:
        store, sync, run = self.store, self.sync, self.run_id
        out.message = bind(store, sync, state, self.caps, True)  # the state must belong to the CRM reached
        plan = out.undo = undo_plan(store, sync, self.undo, self.norm, self.force)
        by_account = plan.by_account()
        kinds = {d.name: d.kind for d in self.plan.rules.dimensions}
        tag_field = self.plan.mapping.tag_field
        rule = undo_rule(self.undo)
        writes: list[PendingWrite] = []
        records: list[Confirmed] = []
        for account, restores in by_account.items():
            dims, fields, kept = {}, {}, {}
            for r in restores:
                fld = tag_field(r.dimension)
                if fld is None:  # no CRM field: the recorded tag only
                    kept[r.dimension] = DimTag(r.now, r.before, rule)
                else:
                    dims[r.dimension] = DimTag(r.now, r.before, rule)
                    fields[fld] = typed_value(r.before, kinds.get(r.dimension))
            if dims:
                writes.append(PendingWrite(account, run, dims, fields))
            if kept:
                records.append(Confirmed(account, kept, settles=False))  # its outbox and errors are not ours
        self.counts["changed"] = len(writes)
        limit = ChangeLimit.of(self.cfg.max_changes, self.opts.allow_changes)
        if limit is not None:
            check = GuardCheck(limit, len(writes), store.account_count(sync))
            log.info("sync %s: undo of run %d: change guard: %s", sync, self.undo, check.verdict())
            if check.tripped:
                raise ChangeGuardTripped(
                    f"undo of run {self.undo} {check.verdict()}; nothing was written (if these changes are "
                    f"intended: `crmseg sync --undo {self.undo} --allow-changes {check.changes}`)"
                )
        if self.is_file:
            self.changes = ChangesFile(
                self.changes_path or Path(CHANGES_FILE.format(sync=sync)),
                self.plan.mapping.id_field,
                [f for d in self.dims if (f := self.plan.mapping.tag_field(d))],
            )
        target: TagSink = self.changes if self.changes is not None else self.connector
        writer = Writer(
            target,
            store,
            sync,
            run,
            lambda: iso(datetime.now(UTC)),
            Budget(self.caps.api_limits, self.cfg.api_reserve),
            self.opts.stop,
            bulk=self.caps.bulk_write if self.changes is None else None,
        )
        try:
            store.confirm(sync, run, self._now(), records)
            for entry in writes:
                writer.add(entry)
            writer.finish()
        except BaseException:
            if self.changes is not None:
                self.changes.discard()
            raise
        finally:
            self.counts["written"] = writer.stats.written
            self.counts["failed"] = writer.stats.failed
            out.failures = writer.stats.failures
            self._tick("write", writer.stats.written)
        if self.changes is not None:
            out.changes_file = str(self.changes.commit())
        store.write_snapshot(sync, run, self.dims)
        return None  # the watermark stays: nothing was read
