"""SQLite record store shared by the sandbox CRMs.

One table of records keyed by CRM id (``records`` for accounts; the deals live in a
second store whose table is ``deals``); each row keeps its creation and last
modification time (epoch milliseconds) and a deleted flag (Salesforce's recycle bin,
HubSpot's archive) beside a JSON object of field values in the CRM's own
representation. Every write bumps the modification time. A single connection is
shared by the server threads and guarded by a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Record:
    """One stored record: CRM id, timestamps (epoch ms) and field values."""

    id: str
    created_ms: int
    modified_ms: int
    data: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False


_SCHEMA = """
CREATE TABLE IF NOT EXISTS {t} (
    id TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    data TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS {t}_modified ON {t} (modified_ms, id);
CREATE INDEX IF NOT EXISTS {t}_number ON {t} (CAST(id AS INTEGER));  -- HubSpot paging order
"""
TABLES = ("records", "deals")


class Store:
    """Thread-safe SQLite store of records (a file path or ``:memory:``)."""

    def __init__(self, path: str = ":memory:", table: str = "records") -> None:
        if table not in TABLES:  # the name is spliced into SQL text: fixed names only
            raise ValueError(f"unknown sandbox table {table!r}; allowed: {', '.join(TABLES)}")
        self.path = path
        self.table = table
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self._db.executescript(_SCHEMA.format(t=table) + _INDEXES.format(t=table))
        columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
        if "deleted" not in columns:  # a store file written before deals existed
            self._db.execute(f"ALTER TABLE {table} ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")
        self._cols = f"id, created_ms, modified_ms, data, deleted FROM {table}"

    # ------------------------------------------------------------ writes
    def insert_many(self, records: Iterable[Record]) -> int:
        """Insert (or replace) records in one transaction; returns how many.

        Into an empty table (seeding) the secondary indexes are built after the rows, which is
        about twice as fast as keeping them up to date row by row."""
        rows = [(r.id, r.created_ms, r.modified_ms, json.dumps(r.data), int(r.deleted)) for r in records]
        t = self.table
        with self._lock:
            self._db.execute("BEGIN")
            try:
                fresh = self._db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is None
                if fresh:
                    self._db.execute(f"DROP INDEX IF EXISTS {t}_modified")
                    self._db.execute(f"DROP INDEX IF EXISTS {t}_number")
                self._db.executemany(
                    f"INSERT OR REPLACE INTO {t} (id, created_ms, modified_ms, data, deleted) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                if fresh:
                    for statement in _INDEXES.format(t=t).strip().splitlines():
                        self._db.execute(statement.split("--")[0])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(rows)

    def update_many(self, changes: Sequence[tuple[str, dict[str, Any]]], now_ms: int) -> list[Record | None]:
        """Apply field changes to several records atomically, bumping their modification time.

        The new modification time is ``max(now_ms, previous)``: it never goes back.
        Returns the updated records (None where the id does not exist).
        """
        out: list[Record | None] = []
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for rid, fields in changes:
                    rec = self._get(rid)
                    if rec is None:
                        out.append(None)
                        continue
                    rec.data.update(fields)
                    rec.modified_ms = max(now_ms, rec.modified_ms)
                    self._db.execute(
                        f"UPDATE {self.table} SET modified_ms = ?, data = ? WHERE id = ?",
                        (rec.modified_ms, json.dumps(rec.data), rid),
                    )
                    out.append(rec)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return out

    def update(self, rid: str, fields: dict[str, Any], now_ms: int) -> Record | None:
        """Apply field changes to one record (see ``update_many``)."""
        return self.update_many([(rid, fields)], now_ms)[0]

    def set_deleted(self, ids: Sequence[str], deleted: bool, now_ms: int) -> list[str]:
        """Move records to (or back from) the recycle bin / archive, bumping their modification
        time (never back); returns the ids that exist."""
        done: list[str] = []
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for rid in ids:
                    cur = self._db.execute(
                        f"UPDATE {self.table} SET deleted = ?, modified_ms = MAX(modified_ms, ?) WHERE id = ?",
                        (int(deleted), now_ms, rid),
                    )
                    if cur.rowcount:
                        done.append(rid)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return done

    def clear(self) -> None:
        """Delete every record."""
        with self._lock:
            self._db.execute(f"DELETE FROM {self.table}")

    # ------------------------------------------------------------ reads
    def _get(self, rid: str) -> Record | None:
        row = self._db.execute(f"SELECT {self._cols} WHERE id = ?", (rid,)).fetchone()
        return _row(row) if row else None

    def get(self, rid: str) -> Record | None:
        """The record with this id, or None."""
        with self._lock:
            return self._get(rid)

    def get_many(self, ids: Sequence[str]) -> dict[str, Record]:
        """Records by id (missing ids are absent from the answer)."""
        out: dict[str, Record] = {}
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(f"SELECT {self._cols} WHERE id IN ({marks})", chunk):
                    out[row[0]] = _row(row)
        return out

    def count(self) -> int:
        """How many records are stored."""
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0])

    def select_ids(
        self,
        where: str = "",
        params: Sequence[Any] = (),
        order: str = "id",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[str]:
        """Ids of records matching a SQL condition on id/created_ms/modified_ms/deleted, the
        first ``offset`` left out.

        ``where`` and ``order`` are built by the sandbox from fixed fragments only;
        values always travel as ``params``.
        """
        sql = f"SELECT id FROM {self.table}" + (f" WHERE {where}" if where else "") + f" ORDER BY {order}"
        args = list(params)
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [-1 if limit is None else limit, offset]
        with self._lock:
            return [r[0] for r in self._db.execute(sql, args)]

    def scan(self, ids: Sequence[str] | None = None) -> Iterator[Record]:
        """Every record (or those of ``ids``, in that order), decoded."""
        if ids is not None:
            found = self.get_many(ids)
            for rid in ids:
                if rid in found:
                    yield found[rid]
            return
        with self._lock:
            rows = self._db.execute(f"SELECT {self._cols} ORDER BY id").fetchall()
        for row in rows:
            yield _row(row)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()


def _row(row: tuple[Any, ...]) -> Record:
    return Record(
        id=row[0], created_ms=int(row[1]), modified_ms=int(row[2]), data=json.loads(row[3]), deleted=bool(row[4])
    )
