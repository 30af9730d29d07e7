"""What daemons report in the SQL store (a mixin of :class:`crmseg.state.sql.SqlStore`), for
``crmseg status``: the rules each sync runs (and an edit a daemon rejected) and each daemon's
next fire times, under an expiry it renews.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta

from crmseg.state.sqlbase import SqlBase
from crmseg.state.store import (
    RuleStatus,
    ScheduleEntry,
    iso,
)


class ScheduleRows(SqlBase):
    """Rule status and daemon schedules (see the module's docstring)."""

    def put_rule_status(self, status: RuleStatus) -> None:
        with self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO rule_status (sync, fingerprint, since, rejected_fingerprint, rejected_at, "
                "rejected_problems, reporter, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sync) DO "
                "UPDATE SET fingerprint = excluded.fingerprint, since = excluded.since, "
                "rejected_fingerprint = excluded.rejected_fingerprint, rejected_at = excluded.rejected_at, "
                "rejected_problems = excluded.rejected_problems, reporter = excluded.reporter, "
                "updated_at = excluded.updated_at",
                (
                    status.sync,
                    status.fingerprint,
                    status.since,
                    status.rejected_fingerprint,
                    status.rejected_at,
                    json.dumps(status.problems),
                    status.reporter,
                    status.updated_at or iso(self._clock(cur)),
                ),
            )

    def rule_status(self, sync: str) -> RuleStatus | None:
        rows = self._query(
            "SELECT sync, fingerprint, since, rejected_fingerprint, rejected_at, rejected_problems, reporter, "
            "updated_at FROM rule_status WHERE sync = ?",
            (sync,),
        )
        if not rows:
            return None
        r = rows[0]
        return RuleStatus(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "[]"), r[6], r[7])

    def beat_schedule(
        self, holder: str, host: str, pid: int, next_runs: Mapping[str, str | None], ttl_s: float
    ) -> None:
        with self._tx() as cur:
            now = self._clock(cur)
            # rows of daemons gone for a while are dropped (status ignores them as soon as they expire)
            self._exec(
                cur,
                "DELETE FROM schedules WHERE holder = ? OR expires_at < ?",
                (holder, iso(now - timedelta(days=1))),
            )
            until = iso(now + timedelta(seconds=ttl_s))
            self._many(
                cur,
                "INSERT INTO schedules (sync, holder, host, pid, next_run, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                ((sync, holder, host, pid, when, until) for sync, when in next_runs.items()),
            )

    def drop_schedule(self, holder: str) -> None:
        with self._tx() as cur:
            self._exec(cur, "DELETE FROM schedules WHERE holder = ?", (holder,))

    def schedules(self, sync: str) -> list[ScheduleEntry]:
        return [
            ScheduleEntry(r[0], r[1], r[2], int(r[3]), r[4], r[5])
            for r in self._query(
                "SELECT sync, holder, host, pid, next_run, expires_at FROM schedules WHERE sync = ? ORDER BY holder",
                (sync,),
            )
        ]
