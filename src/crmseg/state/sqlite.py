"""The state store in one SQLite file (WAL mode, so ``status`` can read during a run)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crmseg.errors import ConfigError
from crmseg.state.sql import SqlStore
from crmseg.state.store import iso, utcnow


class SqliteStore(SqlStore):
    """A SqlStore over ``sqlite3``; one connection, guarded for use from several threads."""

    def __init__(self, path: str | Path, *, migrate: bool = True) -> None:
        super().__init__()
        self.path = Path(path)
        self.where = str(self.path)
        try:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"{self.path}: cannot open the state file: {exc}") from None
        self._lock = threading.RLock()
        if migrate:
            self.migrate()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                cur.close()

    def _query(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return super()._query(sql, args)

    def _stream(self, sql: str, args: Any = (), size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
        with self._lock:
            yield from super()._stream(sql, args, size)

    def now(self) -> str:
        """This machine's clock (every process sharing the file runs on it): no transaction needed."""
        return iso(utcnow())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
