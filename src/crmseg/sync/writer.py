"""Tag writes in batches, each one an outbox entry: record, send, record each outcome.

For every batch the writer (1) stores the batch in the state's outbox, (2) sends it with the
connector's batch write, (3) in one state transaction records the confirmed records' tags and
transitions and the failed records' errors, dropping their outbox rows. A crash between (2)
and (3) leaves the outbox rows; the next run resolves them from the CRM's current values
(:func:`crmseg.sync.decide.applied`), never by guessing.

Before each batch the writer checks the stop flag (a signal) and the API budget, so a run
stops cleanly *between* batches.

The writer is the one place that chooses a connector's bulk path (:class:`BulkWrite`, Salesforce
Bulk API 2.0): when more than its ``bulk_threshold`` writes are pending in one run, the rest
goes in bulk jobs of :data:`BULK_JOB` records.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from crmseg.connectors.base import BulkWrite, TagSink
from crmseg.errors import StopRequested
from crmseg.model import TagWrite
from crmseg.state.store import Confirmed, PendingWrite, RecordError, StateStore
from crmseg.sync.budget import Budget
from crmseg.sync.decide import gives_up, is_permanent

log = logging.getLogger(__name__)

#: Records per bulk job: one internal Salesforce batch each.
BULK_JOB = 10_000

__all__ = ["BULK_JOB", "StopRequested", "WriteStats", "Writer"]


@dataclass
class WriteStats:
    written: int = 0
    failed: int = 0
    batches: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (account, error), this run


class Writer:
    """Buffers pending writes and flushes them in the target's batch size (or one bulk job)."""

    def __init__(
        self,
        target: TagSink,
        store: StateStore,
        sync: str,
        run: int,
        now: Callable[[], str],
        budget: Budget,
        stop: threading.Event | None = None,
        attempts: dict[str, int] | None = None,
        *,
        bulk: BulkWrite | None = None,
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        self.target, self.store, self.sync, self.run, self.now = target, store, sync, run, now
        self.budget = budget
        self.stop = stop or threading.Event()
        self.attempts = attempts or {}
        self.batch = target.batch_size
        #: The bulk path; more pending writes than its ``bulk_threshold`` in one run switch to it.
        self.bulk = bulk
        self.bulk_job = BULK_JOB
        self.bulk_mode = False
        self.pending: list[PendingWrite] = []
        self.stats = WriteStats()
        #: Called after each batch's outcomes are recorded (progress displays).
        self.on_batch = on_batch

    def add(self, entry: PendingWrite) -> None:
        self.pending.append(entry)
        if self.bulk is not None and not self.bulk_mode:
            if len(self.pending) > self.bulk.bulk_threshold:
                self.bulk_mode = True  # too many for collections: the rest goes by Bulk API jobs
            else:
                return  # keep collecting until we know which API fits
        size = self.bulk_job if self.bulk_mode else self.batch
        while len(self.pending) >= size:
            self._flush(self.pending[:size])
            del self.pending[:size]

    def finish(self) -> None:
        """Send what is left."""
        size = self.bulk_job if self.bulk_mode else self.batch
        while self.pending:
            self._flush(self.pending[:size])
            del self.pending[:size]

    # ------------------------------------------------------------------ one batch
    def _flush(self, entries: list[PendingWrite]) -> None:
        if self.stop.is_set():
            raise StopRequested("stopped on request between write batches; the rest is written on the next run")
        calls = 4 if self.bulk_mode else -(-len(entries) // self.batch)
        self.budget.check(calls, f"writing {len(entries)} records")
        self.store.put_outbox(self.sync, entries)
        writes = [TagWrite(e.account, e.fields) for e in entries]
        if self.bulk_mode and self.bulk is not None:
            results = self.bulk.write_bulk(writes)
        else:
            results = self.target.write(writes)
        at = self.now()
        ok: list[Confirmed] = []
        bad: list[RecordError] = []
        for entry, res in zip(entries, results, strict=True):  # write answers one result per input, in order
            if res.ok:
                ok.append(Confirmed(entry.account, entry.dims, entry.fields))
                continue
            error = res.error or "failed without an error message"
            tries = self.attempts.get(entry.account, 0) + 1
            permanent = gives_up(error, tries)
            if permanent and not is_permanent(error):
                error = f"{error} (gave up after {tries} attempts)"
            bad.append(
                RecordError(entry.account, error, permanent, targets={d: tag.value for d, tag in entry.dims.items()})
            )
        self.store.confirm(self.sync, self.run, at, ok)
        self.store.record_failures(self.sync, self.run, at, bad)
        self.stats.batches += 1
        self.stats.written += len(ok)
        self.stats.failed += len(bad)
        self.stats.failures.extend((e.account, e.error) for e in bad)
        for e in bad:
            log.info("record %s not written: %s", e.account, e.error)
        if self.on_batch is not None:
            self.on_batch()
