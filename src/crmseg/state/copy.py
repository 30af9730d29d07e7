"""Copy a SQLite state file's history into a PostgreSQL store (``crmseg state copy``).

The source is first snapshotted with SQLite's backup API into a temp file (a consistent
copy even while a sync writes to it; the source itself is never changed) and that copy is
brought to the current schema. Then, in one PostgreSQL transaction, every table but the
locks is copied row for row — run ids and transition ids included, so run references and
the transition order survive — the row counts are checked, and the ``BIGSERIAL`` sequences
are moved past the copied ids.
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmseg.errors import ConfigError
from crmseg.state.migrations import VERSION

if TYPE_CHECKING:
    from crmseg.state.postgres import PostgresStore

#: The tables copied, in an order that keeps references valid; ``locks``, ``schedules`` and
#: ``rule_status`` (what running processes hold and report) stay behind.
TABLES = (
    "runs",
    "sync_state",
    "accounts",
    "tags",
    "transitions",
    "snapshots",
    "outbox",
    "record_errors",
    "deals",
)
#: Tables whose ``id`` is a ``BIGSERIAL``: ids copied as they are, sequences reset after.
SERIAL = ("runs", "transitions")


def _snapshot(source: Path, into: Path) -> None:
    """A consistent copy of the SQLite file ``source`` at ``into`` (ConfigError if unreadable)."""
    if not source.is_file():
        raise ConfigError(f"{source}: no such state file")
    try:
        src = sqlite3.connect(str(source), timeout=30.0)
        try:
            if src.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
                raise ConfigError(f"{source}: not a crmseg state file (no meta table)")
            dst = sqlite3.connect(str(into))
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"{source}: cannot read the state file: {exc}") from None


def copy_sqlite(source: str | Path, target: PostgresStore, *, force: bool = False, chunk: int = 5000) -> dict[str, int]:
    """Copy every table of the SQLite state file ``source`` into ``target``; rows per table.

    Refuses (ConfigError) when the target already holds history, unless ``force``: then
    the target's tables (not its locks) are emptied first, in the same transaction."""
    from crmseg.state.sqlite import SqliteStore

    source = Path(source)
    with tempfile.TemporaryDirectory(prefix="crmseg-copy-") as tmp:
        snap = Path(tmp) / "state.sqlite"
        _snapshot(source, snap)
        with closing(sqlite3.connect(str(snap))) as probe:
            row = probe.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        have = int(row[0]) if row else 0
        if have > VERSION:
            raise ConfigError(
                f"{source}: state schema version {have} is newer than this crmseg understands "
                f"({VERSION}); upgrade crmseg"
            )
        SqliteStore(snap).close()  # bring the copy (not the source) to the current schema
        src = sqlite3.connect(str(snap))
        try:
            return _copy(src, source, target, force, chunk)
        finally:
            src.close()


def _copy(src: sqlite3.Connection, source: Path, target: PostgresStore, force: bool, chunk: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    with target._tx() as cur:
        cur.execute(f"LOCK TABLE {', '.join(TABLES)} IN SHARE ROW EXCLUSIVE MODE")
        held = {t: n for t in TABLES if (n := int(cur.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]))}
        if held and not force:
            listed = ", ".join(f"{n} {t}" for t, n in held.items())
            raise ConfigError(
                f"{target.where}: the target state store is not empty ({listed}); "
                "use --force to replace its history with the file's"
            )
        if held:
            cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
        for table in TABLES:
            cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            order = "id" if table in SERIAL else "rowid"
            rows = src.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
            insert = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            while batch := rows.fetchmany(chunk):
                target._many(cur, insert, batch)
            want = int(src.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            got = int(cur.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            if got != want:  # pragma: no cover - a driver or schema bug; the transaction rolls back
                raise ConfigError(f"{target.where}: copied {got} of {want} rows of {table} from {source}; nothing kept")
            counts[table] = got
        for table in SERIAL:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
    return counts


def describe(counts: dict[str, Any]) -> str:
    """``12 runs, 1 sync_state, ...`` for the command's output."""
    return ", ".join(f"{n:,} {t}" for t, n in counts.items())
