"""Runs, their leases and the sync state in the SQL store (a mixin of :class:`crmseg.state.sql.SqlStore`).

- **leases** (``locks``): one per sync, stamped with the store's clock (:meth:`SqlBase._clock`);
  a dialect serializes their changes (:meth:`SqlBase._lock_lease`);
- **runs**: one row per run, begun ``running`` and finished with its status and counts; runs a
  dead process left ``running`` are marked ``aborted``;
- **sync state** (``sync_state``): the watermark, delta link and fingerprints of the last completed run and
  the CRM the state belongs to; ``reset_sync`` forgets what is bound to the CRM's records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from crmseg.state.sqlbase import SqlBase
from crmseg.state.store import (
    COUNT_KEYS,
    Lease,
    RunRow,
    SyncState,
    iso,
)

_RUN_COLS = (
    "id, sync, mode, status, started_at, finished_at, n_read, n_evaluated, n_changed, n_written, n_failed, "
    "n_pinned, n_blocked, n_api_calls, api_remaining, watermark_before, watermark_after, rules_fingerprint, "
    "message, drift_alert, holder"
)

#: What ``reset_sync`` forgets: everything bound to the CRM's records (history tables stay).
RESET_TABLES = ("accounts", "tags", "outbox", "record_errors", "sync_state", "deals")


class RunRows(SqlBase):
    """Leases, runs and the sync state (see the module's docstring)."""

    # ------------------------------------------------------------ leases
    def acquire_lease(
        self, sync: str, holder: str, host: str, pid: int, lease_s: float, take_over: bool = False
    ) -> Lease | None:
        with self._tx() as cur:
            self._lock_lease(cur, sync)
            now = self._clock(cur)
            row = self._exec(
                cur, "SELECT sync, holder, host, pid, acquired_at, expires_at FROM locks WHERE sync = ?", (sync,)
            ).fetchone()
            if row is not None:
                cur_lease = Lease(*row)
                if cur_lease.holder != holder and cur_lease.expires_at > iso(now) and not take_over:
                    return cur_lease
                self._exec(cur, "DELETE FROM locks WHERE sync = ?", (sync,))
            self._exec(
                cur,
                "INSERT INTO locks (sync, holder, host, pid, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (sync, holder, host, pid, iso(now), iso(now + timedelta(seconds=lease_s))),
            )
        return None

    def renew_lease(self, sync: str, holder: str, lease_s: float) -> bool:
        with self._tx() as cur:
            cur = self._exec(
                cur,
                "UPDATE locks SET expires_at = ? WHERE sync = ? AND holder = ?",
                (iso(self._clock(cur) + timedelta(seconds=lease_s)), sync, holder),
            )
            return bool(cur.rowcount)

    def release_lease(self, sync: str, holder: str) -> None:
        with self._tx() as cur:
            self._exec(cur, "DELETE FROM locks WHERE sync = ? AND holder = ?", (sync, holder))

    def lease(self, sync: str) -> Lease | None:
        rows = self._query("SELECT sync, holder, host, pid, acquired_at, expires_at FROM locks WHERE sync = ?", (sync,))
        return Lease(*rows[0]) if rows else None

    # ------------------------------------------------------------ runs
    def begin_run(
        self,
        sync: str,
        mode: str,
        watermark_before: str | None,
        rules_fingerprint: str | None,
        holder: str,
        started_at: str,
    ) -> int:
        with self._tx() as cur:
            return self._insert_id(
                cur,
                "INSERT INTO runs (sync, mode, status, started_at, watermark_before, "
                "rules_fingerprint, holder) VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (sync, mode, started_at, watermark_before, rules_fingerprint, holder),
            )

    def finish_run(
        self,
        run_id: int,
        status: str,
        finished_at: str,
        counts: Mapping[str, int],
        watermark_after: str | None = None,
        message: str | None = None,
        api_remaining: int | None = None,
        drift_alert: str | None = None,
        mode: str | None = None,
    ) -> None:
        sets = ", ".join(f"n_{k} = ?" for k in COUNT_KEYS)
        with self._tx() as cur:
            self._exec(
                cur,
                f"UPDATE runs SET status = ?, finished_at = ?, {sets}, watermark_after = ?, message = ?, "
                "api_remaining = ?, drift_alert = ?, mode = COALESCE(?, mode) WHERE id = ?",
                (
                    status,
                    finished_at,
                    *[int(counts.get(k, 0)) for k in COUNT_KEYS],
                    watermark_after,
                    message,
                    api_remaining,
                    drift_alert,
                    mode,
                    run_id,
                ),
            )

    def abort_stale_runs(self, sync: str, finished_at: str, message: str) -> list[int]:
        """Mark runs left ``running`` (their process died) as ``aborted``; call while holding the lease."""
        with self._tx() as cur:
            ids = [
                r[0]
                for r in self._exec(
                    cur, "SELECT id FROM runs WHERE sync = ? AND status = 'running'", (sync,)
                ).fetchall()
            ]
            if ids:
                self._exec(
                    cur,
                    "UPDATE runs SET status = 'aborted', finished_at = ?, message = ? "
                    "WHERE sync = ? AND status = 'running'",
                    (finished_at, message, sync),
                )
        return ids

    def runs(self, sync: str, since: str | None = None, limit: int | None = None) -> list[RunRow]:
        sql = f"SELECT {_RUN_COLS} FROM runs WHERE sync = ?"
        args: list[Any] = [sync]
        if since:
            sql += " AND started_at >= ?"
            args.append(since)
        sql += " ORDER BY id"
        rows = [self._run_row(r) for r in self._query(sql, args)]
        return rows[-limit:] if limit else rows

    def last_run(self, sync: str) -> RunRow | None:
        rows = self._query(f"SELECT {_RUN_COLS} FROM runs WHERE sync = ? ORDER BY id DESC LIMIT 1", (sync,))
        return self._run_row(rows[0]) if rows else None

    def run(self, run_id: int) -> RunRow | None:
        rows = self._query(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", (run_id,))
        return self._run_row(rows[0]) if rows else None

    def syncs(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT sync FROM runs ORDER BY sync")]

    @staticmethod
    def _run_row(r: Sequence[Any]) -> RunRow:
        counts = dict(
            zip(
                ("read", "evaluated", "changed", "written", "failed", "pinned", "blocked", "api_calls"),
                (int(x or 0) for x in r[6:14]),
                strict=True,
            )
        )
        return RunRow(
            id=int(r[0]),
            sync=r[1],
            mode=r[2],
            status=r[3],
            started_at=r[4],
            finished_at=r[5],
            counts=counts,
            api_remaining=r[14],
            watermark_before=r[15],
            watermark_after=r[16],
            rules_fingerprint=r[17],
            message=r[18],
            drift_alert=r[19],
            holder=r[20],
        )

    # ------------------------------------------------------------ sync state
    def sync_state(self, sync: str) -> SyncState:
        rows = self._query(
            "SELECT watermark, rules_fingerprint, read_fingerprint, last_full_at, crm_identity, crm_where, "
            "deals_watermark, delta_link FROM sync_state WHERE sync = ?",
            (sync,),
        )
        return SyncState(*rows[0]) if rows else SyncState()

    def save_sync_state(self, sync: str, state: SyncState) -> None:
        with self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO sync_state (sync, watermark, rules_fingerprint, read_fingerprint, last_full_at, "
                "delta_link) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sync) DO UPDATE SET "
                "watermark = excluded.watermark, rules_fingerprint = excluded.rules_fingerprint, "
                "read_fingerprint = excluded.read_fingerprint, last_full_at = excluded.last_full_at, "
                "delta_link = excluded.delta_link",
                (
                    sync,
                    state.watermark,
                    state.rules_fingerprint,
                    state.read_fingerprint,
                    state.last_full_at,
                    state.delta_link,
                ),
            )

    def bind_identity(self, sync: str, identity: str, where: str) -> None:
        with self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO sync_state (sync, crm_identity, crm_where) VALUES (?, ?, ?) "
                "ON CONFLICT (sync) DO UPDATE SET crm_identity = excluded.crm_identity, crm_where = excluded.crm_where",
                (sync, identity, where),
            )

    def reset_sync(self, sync: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._tx() as cur:
            for table in RESET_TABLES:
                counts[table] = int(self._exec(cur, f"DELETE FROM {table} WHERE sync = ?", (sync,)).rowcount or 0)
        return counts
