"""The sync's read step (``crmseg.sync.read.read_source``) with a source that lists its deleted
records apart (``DeletedRecords``) and one that reads in bulk (``BulkRead``), on a plain in-memory
connector and a real state file: when each is asked, with which ``since``, in which order, and
what the next watermark may become."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crmseg.connectors.base import Capabilities, Connector
from crmseg.model import RawRecord, Removed, SchemaField, TagWrite, WriteResult
from crmseg.state.sqlite import SqliteStore
from crmseg.sync.read import read_source

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class Source(Connector):
    """Records with a ``modified`` stamp; optionally a list of deletions and a bulk read."""

    batch_size = 100

    def __init__(self, stamps: dict[str, datetime], *, deletions: bool, bulk_threshold: int | None = None) -> None:
        self.stamps = stamps
        self.gone: list[str] = []
        self.calls: list[tuple[str, datetime | None]] = []
        self._deletions, self._bulk = deletions, bulk_threshold

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            deletions=self if self._deletions else None, bulk_read=self if self._bulk is not None else None
        )

    @property
    def bulk_read_threshold(self) -> int:
        assert self._bulk is not None
        return self._bulk

    def read(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]:
        self.calls.append(("read", since))
        for rid, at in self.stamps.items():
            if (since is None or at >= since) and rid not in self.gone:  # a deleted record is no longer listed
                yield RawRecord(rid, {"modified": at.isoformat()})
        self.calls.append(("read done", since))

    def read_bulk(self, fields: Sequence[str]) -> Iterator[RawRecord]:
        self.calls.append(("bulk", None))
        for rid, at in self.stamps.items():
            yield RawRecord(rid, {"modified": at.isoformat()})

    def read_deleted(self, since: datetime) -> Iterator[Removed]:
        self.calls.append(("deleted", since))
        for rid in self.gone:
            yield Removed(rid, since)

    def write(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        raise AssertionError("the read step writes nothing")

    def schema(self) -> dict[str, SchemaField]:
        return {}

    def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.sqlite")
    yield s
    s.close()


def _read(src: Source, store: SqliteStore, since: datetime | None) -> Any:
    run = store.begin_run("s", "full" if since is None else "incremental", None, "fp", "test", T0.isoformat())
    return read_source(src, ["modified"], "modified", since, store, "s", run, 2, lambda n: None)


def _present(store: SqliteStore) -> set[str]:
    return {rid for rid, _ in store.iter_accounts("s")}


def test_an_incremental_read_asks_for_the_deletions_after_the_changes_with_the_same_since(store):
    stamps = {f"a{i}": T0 + timedelta(minutes=i) for i in range(5)}
    src = Source(stamps, deletions=True)
    _read(src, store, None)
    assert _present(store) == set(stamps)
    src.calls.clear()
    src.gone = ["a1", "a4", "never-seen"]
    since = T0 + timedelta(minutes=2)
    read = _read(src, store, since)
    assert src.calls == [("read", since), ("read done", since), ("deleted", since)]
    assert read.removed == 2 and read.ids == {"a2", "a3"} and read.count == 2
    assert read.newest == T0 + timedelta(minutes=3)  # the watermark may go to the newest stamp read
    assert _present(store) == {"a0", "a2", "a3"}
    again = _read(src, store, since)  # a rerun of a run that died: the same list, no account leaves twice
    assert again.removed == 0 and _present(store) == {"a0", "a2", "a3"}


def test_a_full_read_asks_for_no_deletions_and_keeps_the_watermark_at_the_clock_before_it(store):
    stamps = {"a": T0, "b": T0 + timedelta(minutes=9)}
    listed = Source(stamps, deletions=True)
    read = _read(listed, store, None)
    assert [c[0] for c in listed.calls] == ["read", "read done"]
    assert read.newest is None  # a deletion during the read is in no list it saw
    plain = Source(stamps, deletions=False)
    assert _read(plain, store, None).newest == T0 + timedelta(minutes=9)


def test_a_full_read_goes_through_the_bulk_read_from_its_threshold_of_known_accounts(store, tmp_path):
    stamps = {f"a{i}": T0 for i in range(4)}
    src = Source(stamps, deletions=False, bulk_threshold=3)
    _read(src, store, None)  # nothing known yet: the ordinary read
    assert [c[0] for c in src.calls] == ["read", "read done"]
    src.calls.clear()
    read = _read(src, store, None)  # 4 known, threshold 3
    assert src.calls == [("bulk", None)] and read.count == 4
    src.calls.clear()
    _read(src, store, T0)  # an incremental read never goes through the bulk read
    assert [c[0] for c in src.calls] == ["read", "read done"]
    at_zero = Source(stamps, deletions=False, bulk_threshold=0)
    fresh = SqliteStore(tmp_path / "fresh.sqlite")
    try:
        _read(at_zero, fresh, None)  # 0: every full read, the first included
    finally:
        fresh.close()
    assert at_zero.calls == [("bulk", None)]
