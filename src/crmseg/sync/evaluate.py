"""The evaluation step of a sync run: each account's rules evaluated and its tags decided.

:class:`Evaluation` holds what one run evaluates with (the engine, the normalizer, the
recorded errors, the holds of an undo) and the counters it moves. Per chunk of the local copy
(:meth:`Evaluation.chunk`) it resolves the outbox entries of an interrupted run, decides each
account's writes and records (:func:`crmseg.sync.decide.account_plan`), hands the writes to the
writer and records the rest. The change guard's pass (:meth:`Evaluation.count_changes`)
decides the same way over the same accounts and only counts, recording nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmseg.model import RawRecord
from crmseg.normalize.normalizer import Normalizer
from crmseg.rules.engines import Engine
from crmseg.state.store import Confirmed, DimTag, PendingWrite, RecordError, StateStore, iso, utcnow
from crmseg.sync.decide import AccountPlan, account_plan, applied
from crmseg.sync.undo import Holds
from crmseg.sync.writer import Writer

#: Accounts evaluated (and read) per chunk.
CHUNK = 1000

Rows = Iterable[tuple[str, dict[str, Any]]]


@dataclass
class Evaluation:
    """One run's evaluation (see the module's docstring); ``counts`` is the run's own dict."""

    store: StateStore
    sync: str
    run: int
    engine: Engine
    norm: Normalizer
    dims: Sequence[str]
    tag_field: Callable[[str], str | None]
    #: Tags an undo restored, left as they are while the rules are those of the undone run.
    holds: Holds
    #: The recorded errors per account (permanent ones block the same write again).
    errors: dict[str, RecordError]
    #: A full read: writes blocked by a permanent error are retried.
    full: bool
    #: A file source: it never receives our writes, so its old values are not edits.
    is_file: bool
    counts: dict[str, int]
    #: (account, error) of the writes held back by a permanent error.
    blocked: list[tuple[str, str]] = field(default_factory=list)
    #: Accounts with a held tag the rules would change (see crmseg.sync.undo).
    held: int = 0

    def chunk(self, chunk: list[tuple[str, dict[str, Any]]], writer: Writer, outbox: dict[str, PendingWrite]) -> None:
        """Evaluate one chunk: writes go to ``writer``, tags the CRM already holds are recorded;
        the chunk's unresolved ``outbox`` entries are settled (and taken out of ``outbox``)."""
        store, sync, run, norm, dims = self.store, self.sync, self.run, self.norm, self.dims
        raws = [RawRecord(rid, data) for rid, data in chunk]
        currents = {r.id: norm.current_tags(r, dims) for r in raws}
        # unresolved writes of an interrupted run: applied if the CRM now holds their targets
        resolved = [outbox.pop(r.id) for r in raws if r.id in outbox]
        if resolved:
            done = [pw for pw in resolved if applied(currents[pw.account], pw.dims)]
            store.confirm(sync, run, _now(), [Confirmed(pw.account, pw.dims) for pw in done])
            store.drop_outbox(sync, [pw.account for pw in resolved if pw not in done])
        recorded = store.recorded_tags(sync, [r.id for r in raws])
        confirms: list[Confirmed] = []
        for raw in raws:
            results = self.engine.evaluate(norm.account(raw))
            pinned = norm.pinned(raw)
            have = recorded.get(raw.id, {})
            held = self.holds.dims.get(raw.id, ())
            plan = account_plan(results, currents[raw.id], pinned, self.tag_field, have, held)
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
            err = self.errors.get(raw.id)
            if plan.write:
                if err is not None and _blocked(plan, err, self.full):
                    self.counts["blocked"] += 1
                    self.blocked.append((raw.id, err.error))
                else:
                    self.counts["changed"] += 1
                    writer.add(PendingWrite(raw.id, run, plan.write, plan.fields))
                if keep:
                    confirms.append(Confirmed(raw.id, keep, settles=False))
            elif keep or err is not None:
                confirms.append(Confirmed(raw.id, keep))
        store.confirm(sync, run, _now(), confirms)

    def count_changes(
        self, accounts: Rows, check_stop: Callable[[], None], after_chunk: Callable[[int], None]
    ) -> tuple[int, int]:
        """The change guard's pass: (accounts evaluated, accounts the run would write), decided
        exactly as :meth:`chunk` decides. Reads the local copy only and records nothing."""
        norm, dims = self.norm, self.dims
        changes = seen = 0
        for chunk in chunks(accounts, CHUNK):
            check_stop()
            for rid, data in chunk:
                raw = RawRecord(rid, data)
                results = self.engine.evaluate(norm.account(raw))
                held = self.holds.dims.get(rid, ())
                plan = account_plan(results, norm.current_tags(raw, dims), norm.pinned(raw), self.tag_field, {}, held)
                if plan.write and not _blocked(plan, self.errors.get(rid), self.full):
                    changes += 1
            seen += len(chunk)
            after_chunk(seen)
        return seen, changes


def chunks(items: Rows, size: int) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    chunk: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _blocked(plan: AccountPlan, err: RecordError | None, full: bool) -> bool:
    """Whether an account's write is held back: the same targets already failed with a permanent
    error (an incremental run does not retry it; ``--full`` does)."""
    if err is None or not err.permanent or full:
        return False
    return err.targets == {d: t.value for d, t in plan.write.items()}


def _now() -> str:
    return iso(utcnow())
