"""The sync writer: batches, the outbox, and the one place that chooses the bulk write path."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from crmseg.model import TagWrite, WriteResult
from crmseg.state.store import PendingWrite
from crmseg.sync.budget import Budget
from crmseg.sync.writer import BULK_JOB, Writer


class FakeStore:
    """The three outbox calls the writer makes, recorded."""

    def __init__(self) -> None:
        self.outbox: list[int] = []
        self.confirmed: list[str] = []
        self.failed: list[str] = []

    def put_outbox(self, sync: str, entries: Sequence[PendingWrite]) -> None:
        self.outbox.append(len(entries))

    def confirm(self, sync: str, run: int, at: str, confirmed: Sequence) -> None:
        self.confirmed += [c.account for c in confirmed]

    def record_failures(self, sync: str, run: int, at: str, errors: Sequence) -> None:
        self.failed += [e.account for e in errors]


class FakeCrm:
    """A connector with a batch write and a bulk path; each call's size is recorded."""

    batch_size = 2

    def __init__(self, bulk_threshold: int) -> None:
        self.bulk_threshold = bulk_threshold
        self.writes: list[int] = []
        self.bulk_writes: list[int] = []

    def write(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        assert len(writes) <= self.batch_size
        self.writes.append(len(writes))
        return [WriteResult(w.id, True) for w in writes]

    def write_bulk(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        self.bulk_writes.append(len(writes))
        return [WriteResult(w.id, True) for w in writes]


def _write(n: int, crm: FakeCrm, *, bulk: bool = True, job: int | None = None) -> FakeStore:
    store = FakeStore()
    writer = Writer(crm, store, "s", 1, lambda: "now", Budget(None), bulk=crm if bulk else None)
    if job is not None:
        writer.bulk_job = job
    for i in range(n):
        writer.add(PendingWrite(f"a{i}", 1, {"segment": (None, "SMB", "r")}, {"Segment__c": "SMB"}))
    writer.finish()
    assert store.confirmed == [f"a{i}" for i in range(n)] and store.failed == []
    return store


@pytest.mark.parametrize(
    "pending, threshold, writes, bulk_writes",
    [
        (5, 5, [2, 2, 1], []),  # at the threshold: batch writes
        (6, 5, [], [6]),  # above it: one bulk job
        (1, 0, [], [1]),  # a threshold of 0: every run with a write goes bulk
        (0, 0, [], []),
    ],
)
def test_more_pending_writes_than_the_bulk_threshold_go_through_the_bulk_path(pending, threshold, writes, bulk_writes):
    crm = FakeCrm(threshold)
    _write(pending, crm)
    assert (crm.writes, crm.bulk_writes) == (writes, bulk_writes)


def test_bulk_jobs_are_cut_at_the_job_size():
    crm = FakeCrm(5)
    store = _write(11, crm, job=4)
    assert crm.bulk_writes == [4, 4, 3] and crm.writes == [] and store.outbox == [4, 4, 3]
    assert BULK_JOB == 10_000


def test_without_a_bulk_capability_every_write_is_a_batch():
    crm = FakeCrm(1)
    _write(7, crm, bulk=False)
    assert crm.writes == [2, 2, 2, 1] and crm.bulk_writes == []
