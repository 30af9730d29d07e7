"""The base every part of the SQL store runs on: the connection and the dialect hooks.

:class:`SqlBase` holds the DB-API connection and the few things a dialect changes
(placeholders, transactions, DDL types, new ids, lease serialization, the clock):
:mod:`crmseg.state.sqlite` and :mod:`crmseg.state.postgres` override them. The store's
tables are kept by mixins of it, one module a concern, put together in
:class:`crmseg.state.sql.SqlStore`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from crmseg.state.store import iso, utcnow


class SqlBase:
    """The connection and the dialect hooks (subclasses set ``dialect`` and the connection)."""

    dialect: ClassVar[Mapping[str, str]] = {
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "big": "INTEGER",
        "real": "REAL",
    }
    where: str = "state"

    def __init__(self) -> None:
        self._conn: Any = None

    def _sql(self, sql: str) -> str:
        return sql

    @contextmanager
    def _tx(self) -> Iterator[Any]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    def close(self) -> None:  # pragma: no cover - overridden
        """Release the connection(s); each dialect closes its own."""
        raise NotImplementedError

    def _exec(self, cur: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        cur.execute(self._sql(sql), tuple(args))
        return cur

    def _many(self, cur: Any, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if rows:
            cur.executemany(self._sql(sql), rows)

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._conn.cursor()
        try:
            return list(self._exec(cur, sql, args).fetchall())
        finally:
            cur.close()

    def _stream(self, sql: str, args: Sequence[Any] = (), size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of one query, ``size`` at a time (one query, however many rows)."""
        cur = self._conn.cursor()
        try:
            self._exec(cur, sql, args)
            while rows := cur.fetchmany(size):
                yield list(rows)
        finally:
            cur.close()

    def _insert_id(self, cur: Any, sql: str, args: Sequence[Any]) -> int:
        self._exec(cur, sql, args)
        return int(cur.lastrowid)

    def _ddl(self, stmt: str) -> str:
        """A migration statement in this dialect (``{serial}``/``{big}``/``{real}`` filled in)."""
        return stmt.format(**self.dialect)

    def _lock_lease(self, cur: Any, sync: str) -> None:
        """Serialize lease changes of ``sync`` inside the current transaction (SQLite's
        ``BEGIN IMMEDIATE`` already does: no-op here)."""

    def _clock(self, cur: Any) -> datetime:
        """The time leases are stamped and compared with (a server store uses the server's clock)."""
        return utcnow()

    def now(self) -> str:
        """The store's clock now, as a stored stamp."""
        with self._tx() as cur:
            return iso(self._clock(cur))

    def _delete_in(self, cur: Any, table: str, sync: str, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ", ".join("?" * len(part))
            self._exec(cur, f"DELETE FROM {table} WHERE sync = ? AND account IN ({marks})", (sync, *part))
