"""The StateStore in portable SQL over a DB-API connection, shared by SQLite and PostgreSQL.

:class:`SqlStore` puts together the connection and dialect hooks (:mod:`crmseg.state.sqlbase`),
the schema migrations (here) and one mixin per concern:

- :mod:`crmseg.state.runs`: leases, runs and the sync state (watermarks, identity, reset);
- :mod:`crmseg.state.accounts`: the local copy, the recorded tags and the transition log;
- :mod:`crmseg.state.outbox`: the outbox and the per-record errors;
- :mod:`crmseg.state.snapshots`: per-run label counts (drift);
- :mod:`crmseg.state.schedules`: the rule status and schedules daemons report;
- :mod:`crmseg.state.deals`: deals and the attribution's label history.

The dialects supply the connection, placeholders, transactions, DDL types and lease
serialization (:mod:`crmseg.state.sqlite`, :mod:`crmseg.state.postgres`).
"""

from __future__ import annotations

from typing import Any

from crmseg.errors import ConfigError
from crmseg.state.accounts import AccountRows
from crmseg.state.deals import DealRows
from crmseg.state.migrations import MIGRATIONS, VERSION
from crmseg.state.outbox import OutboxRows
from crmseg.state.runs import RunRows
from crmseg.state.schedules import ScheduleRows
from crmseg.state.snapshots import SnapshotRows


class SqlStore(RunRows, AccountRows, OutboxRows, SnapshotRows, ScheduleRows, DealRows):
    """Shared implementation; subclasses set ``dialect`` and the connection (the tables: the mixins)."""

    def schema_version(self) -> int:
        try:
            rows = self._query("SELECT value FROM meta WHERE key = 'schema_version'")
        except Exception:
            self._rollback_quietly()
            return 0
        return int(rows[0][0]) if rows else 0

    def _rollback_quietly(self) -> None:
        pass

    def migrate(self) -> int:
        """Apply the migrations this database lacks; returns the version now."""
        have = self.schema_version()
        if have > VERSION:
            raise ConfigError(
                f"{self.where}: state schema version {have} is newer than this crmseg understands "
                f"({VERSION}); upgrade crmseg"
            )
        if have == VERSION:
            return have
        with self._tx() as cur:
            have = self._locked_version(cur)
            for number in range(have + 1, VERSION + 1):
                for stmt in MIGRATIONS[number - 1]:
                    self._exec(cur, self._ddl(stmt))
                self._exec(
                    cur,
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(number),),
                )
        return VERSION

    def _locked_version(self, cur: Any) -> int:
        """The version re-read inside the migration transaction (another process may have migrated)."""
        self._exec(cur, self._ddl("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"))
        row = self._exec(cur, "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0
