"""The StateStore in portable SQL over a DB-API connection; dialects supply the connection,
placeholders, transactions, DDL types and lease serialization (:mod:`crmseg.state.sqlite`,
:mod:`crmseg.state.postgres`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from crmseg.errors import ConfigError
from crmseg.model import NONE_LABEL
from crmseg.state.deals import DealRows
from crmseg.state.migrations import MIGRATIONS, VERSION
from crmseg.state.store import (
    COUNT_KEYS,
    Confirmed,
    DimTag,
    Lease,
    PendingWrite,
    RecordError,
    RuleStatus,
    RunRow,
    ScheduleEntry,
    SyncState,
    TagRecord,
    Transition,
)
from crmseg.state.transitions import EDIT_RULE, moves

_RUN_COLS = (
    "id, sync, mode, status, started_at, finished_at, n_read, n_evaluated, n_changed, n_written, n_failed, "
    "n_pinned, n_blocked, n_api_calls, api_remaining, watermark_before, watermark_after, rules_fingerprint, "
    "message, drift_alert, holder"
)

#: What ``reset_sync`` forgets: everything bound to the CRM's records (history tables stay).
RESET_TABLES = ("accounts", "tags", "outbox", "record_errors", "sync_state", "deals")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    """ISO 8601 UTC with microseconds: sorts as text."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SqlStore(DealRows):
    """Shared implementation; subclasses set ``dialect`` and the connection (deals: :class:`DealRows`)."""

    dialect: ClassVar[Mapping[str, str]] = {
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "big": "INTEGER",
        "real": "REAL",
    }
    where: str = "state"

    def __init__(self) -> None:
        self._conn: Any = None

    # ------------------------------------------------------------ dialect hooks
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

    # ------------------------------------------------------------ schema
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
    ) -> None:
        sets = ", ".join(f"n_{k} = ?" for k in COUNT_KEYS)
        with self._tx() as cur:
            self._exec(
                cur,
                f"UPDATE runs SET status = ?, finished_at = ?, {sets}, watermark_after = ?, message = ?, "
                "api_remaining = ?, drift_alert = ? WHERE id = ?",
                (
                    status,
                    finished_at,
                    *[int(counts.get(k, 0)) for k in COUNT_KEYS],
                    watermark_after,
                    message,
                    api_remaining,
                    drift_alert,
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
            "deals_watermark FROM sync_state WHERE sync = ?",
            (sync,),
        )
        return SyncState(*rows[0]) if rows else SyncState()

    def save_sync_state(self, sync: str, state: SyncState) -> None:
        with self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO sync_state (sync, watermark, rules_fingerprint, read_fingerprint, last_full_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sync) DO UPDATE SET watermark = excluded.watermark, "
                "rules_fingerprint = excluded.rules_fingerprint, read_fingerprint = excluded.read_fingerprint, "
                "last_full_at = excluded.last_full_at",
                (sync, state.watermark, state.rules_fingerprint, state.read_fingerprint, state.last_full_at),
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

    # ------------------------------------------------------------ local copy
    def upsert_accounts(self, sync: str, run: int, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        with self._tx() as cur:
            self._many(
                cur,
                "INSERT INTO accounts (sync, account, data, present, seen_run) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (sync, account) DO UPDATE SET data = excluded.data, present = 1, "
                "seen_run = excluded.seen_run",
                ((sync, rid, json.dumps(dict(data), default=str), run) for rid, data in rows),
            )

    def iter_accounts(
        self, sync: str, ids: Iterable[str] | None = None, chunk: int = 5000
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Present accounts in id order (all, or those in ``ids``), fetched ``chunk`` at a time."""
        if ids is not None:
            wanted = sorted(set(ids))
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                marks = ", ".join("?" * len(part))
                for rid, data in self._query(
                    f"SELECT account, data FROM accounts WHERE sync = ? AND present = 1 "
                    f"AND account IN ({marks}) ORDER BY account",
                    (sync, *part),
                ):
                    yield rid, json.loads(data)
            return
        last = ""
        while True:
            rows = self._query(
                "SELECT account, data FROM accounts WHERE sync = ? AND present = 1 AND account > ? "
                "ORDER BY account LIMIT ?",
                (sync, last, chunk),
            )
            for rid, data in rows:
                yield rid, json.loads(data)
            if len(rows) < chunk:
                return
            last = rows[-1][0]

    def mark_absent(self, sync: str, run: int) -> int:
        """After a complete full read: accounts not seen in ``run`` leave the population (history kept)."""
        with self._tx() as cur:
            gone = int(
                self._exec(
                    cur, "UPDATE accounts SET present = 0 WHERE sync = ? AND present = 1 AND seen_run <> ?", (sync, run)
                ).rowcount
                or 0
            )
            self._exec(
                cur,
                "DELETE FROM outbox WHERE sync = ? AND account IN (SELECT account FROM accounts "
                "WHERE sync = ? AND present = 0)",
                (sync, sync),
            )
            return gone

    def account_count(self, sync: str) -> int:
        return int(self._query("SELECT COUNT(*) FROM accounts WHERE sync = ? AND present = 1", (sync,))[0][0])

    # ------------------------------------------------------------ tags and transitions
    def recorded_tags(self, sync: str, ids: Sequence[str]) -> dict[str, dict[str, str | None]]:
        out: dict[str, dict[str, str | None]] = {}
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ", ".join("?" * len(part))
            for rid, dim, value in self._query(
                f"SELECT account, dimension, value FROM tags WHERE sync = ? AND account IN ({marks})", (sync, *part)
            ):
                out.setdefault(rid, {})[dim] = value
        return out

    def tag_records(
        self, sync: str, ids: Sequence[str] | None = None, rule_prefix: str | None = None
    ) -> list[TagRecord]:
        sql = "SELECT account, dimension, value, rule, run FROM tags WHERE sync = ?"
        args: list[Any] = [sync]
        if rule_prefix is not None:
            sql += f" AND substr(rule, 1, {len(rule_prefix):d}) = ?"  # not LIKE: the prefix is matched as written
            args.append(rule_prefix)
        if ids is None:
            return [TagRecord(*r) for r in self._query(sql, args)]
        out: list[TagRecord] = []
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ", ".join("?" * len(part))
            out += [TagRecord(*r) for r in self._query(f"{sql} AND account IN ({marks})", (*args, *part))]
        return out

    def confirm(self, sync: str, run: int, at: str, items: Sequence[Confirmed], edit_rule: str = EDIT_RULE) -> int:
        """Record the tags the CRM now holds; log their transitions; clear outbox and errors. One transaction."""
        if not items:
            return 0
        logged = 0
        with self._tx() as cur:
            ids = [c.account for c in items]
            recorded = self._recorded_in(cur, sync, ids)
            trans, tag_rows = [], []
            for c in items:
                have = recorded.get(c.account, {})
                for dim, (crm_before, value, rule) in c.dims.items():  # a DimTag
                    first = int(dim not in have)  # no tag recorded yet: the account's first evaluation
                    for frm, to, why in moves(dim in have, have.get(dim), crm_before, value, rule, edit_rule):
                        trans.append((sync, c.account, dim, frm, to, why, run, at, first))
                    if dim not in have or have[dim] != value:
                        tag_rows.append((sync, c.account, dim, value, rule, run, at))
            self._many(
                cur,
                "INSERT INTO transitions (sync, account, dimension, from_value, to_value, rule, run, at, first_eval) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                trans,
            )
            self._many(
                cur,
                "INSERT INTO tags (sync, account, dimension, value, rule, run, at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (sync, account, dimension) DO UPDATE SET value = excluded.value, "
                "rule = excluded.rule, run = excluded.run, at = excluded.at",
                tag_rows,
            )
            with_fields = [c for c in items if c.fields]
            if with_fields:
                copies = self._data_in(cur, sync, [c.account for c in with_fields])
                self._many(
                    cur,
                    "UPDATE accounts SET data = ? WHERE sync = ? AND account = ?",
                    (
                        (json.dumps({**copies[c.account], **c.fields}, default=str), sync, c.account)
                        for c in with_fields
                        if c.account in copies
                    ),
                )
            settled = [c.account for c in items if c.settles]
            self._delete_in(cur, "outbox", sync, settled)
            self._delete_in(cur, "record_errors", sync, settled)
            logged = len(trans)
        return logged

    def _recorded_in(self, cur: Any, sync: str, ids: Sequence[str]) -> dict[str, dict[str, str | None]]:
        out: dict[str, dict[str, str | None]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ", ".join("?" * len(part))
            for rid, dim, value in self._exec(
                cur,
                f"SELECT account, dimension, value FROM tags WHERE sync = ? AND account IN ({marks})",
                (sync, *part),
            ).fetchall():
                out.setdefault(rid, {})[dim] = value
        return out

    def _data_in(self, cur: Any, sync: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ", ".join("?" * len(part))
            for rid, data in self._exec(
                cur, f"SELECT account, data FROM accounts WHERE sync = ? AND account IN ({marks})", (sync, *part)
            ).fetchall():
                out[rid] = json.loads(data)
        return out

    def _delete_in(self, cur: Any, table: str, sync: str, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ", ".join("?" * len(part))
            self._exec(cur, f"DELETE FROM {table} WHERE sync = ? AND account IN ({marks})", (sync, *part))

    def transitions(
        self, sync: str, since: str | None = None, run_ids: Sequence[int] | None = None, account: str | None = None
    ) -> list[Transition]:
        sql = (
            "SELECT account, dimension, from_value, to_value, rule, run, at, COALESCE(first_eval, 0) "
            "FROM transitions WHERE sync = ?"
        )
        args: list[Any] = [sync]
        if account is not None:  # no index on account (a schema change): one account's history scans the sync's log
            sql += " AND account = ?"
            args.append(account)
        if since:
            sql += " AND at >= ?"
            args.append(since)
        if run_ids is not None:
            if not run_ids:
                return []
            sql += f" AND run IN ({', '.join('?' * len(run_ids))})"
            args += list(run_ids)
        return [
            Transition(r[0], r[1], r[2], r[3], r[4], r[5], r[6], first_eval=bool(r[7]))
            for r in self._query(sql + " ORDER BY id", args)
        ]

    # ------------------------------------------------------------ outbox
    def put_outbox(self, sync: str, entries: Sequence[PendingWrite]) -> None:
        with self._tx() as cur:
            self._many(
                cur,
                "INSERT INTO outbox (sync, account, run, dims, fields) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (sync, account) DO UPDATE SET run = excluded.run, dims = excluded.dims, "
                "fields = excluded.fields",
                ((sync, e.account, e.run, json.dumps(e.dims), json.dumps(e.fields, default=str)) for e in entries),
            )

    def outbox(self, sync: str) -> dict[str, PendingWrite]:
        out = {}
        for rid, run, dims, fields in self._query(
            "SELECT account, run, dims, fields FROM outbox WHERE sync = ?", (sync,)
        ):
            out[rid] = PendingWrite(
                rid,
                int(run),
                {k: DimTag(*v) for k, v in json.loads(dims).items()},  # stored as JSON lists
                json.loads(fields),
            )
        return out

    def drop_outbox(self, sync: str, ids: Sequence[str]) -> None:
        with self._tx() as cur:
            self._delete_in(cur, "outbox", sync, list(ids))

    # ------------------------------------------------------------ record errors
    def record_failures(self, sync: str, run: int, at: str, errors: Sequence[RecordError]) -> None:
        """Add or bump each failed record (attempts + 1). One transaction.

        The outbox entry stays: an earlier attempt of the same batch (one whose answer was
        lost) may have been applied, so the next run resolves it from the CRM's value."""
        if not errors:
            return
        with self._tx() as cur:
            self._many(
                cur,
                "INSERT INTO record_errors (sync, account, error, permanent, attempts, targets, first_run, "
                "last_run, at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT (sync, account) DO UPDATE SET "
                "error = excluded.error, permanent = excluded.permanent, "
                "attempts = record_errors.attempts + 1, targets = excluded.targets, "
                "last_run = excluded.last_run, at = excluded.at",
                ((sync, e.account, e.error, int(e.permanent), json.dumps(e.targets), run, run, at) for e in errors),
            )

    def record_errors(self, sync: str) -> dict[str, RecordError]:
        return {
            r[0]: RecordError(r[0], r[1], bool(r[2]), int(r[3]), json.loads(r[4]), r[5], r[6], r[7])
            for r in self._query(
                "SELECT account, error, permanent, attempts, targets, first_run, last_run, at "
                "FROM record_errors WHERE sync = ? ORDER BY account",
                (sync,),
            )
        }

    def clear_errors(self, sync: str, ids: Sequence[str]) -> None:
        with self._tx() as cur:
            self._delete_in(cur, "record_errors", sync, list(ids))

    # ------------------------------------------------------------ snapshots
    def write_snapshot(self, sync: str, run: int, dimensions: Sequence[str]) -> dict[str, dict[str, int]]:
        """Label counts of the recorded tags of the present accounts, per dimension, stored for ``run``."""
        out: dict[str, dict[str, int]] = {}
        with self._tx() as cur:
            total = int(
                self._exec(cur, "SELECT COUNT(*) FROM accounts WHERE sync = ? AND present = 1", (sync,)).fetchone()[0]
            )
            for dim in dimensions:
                rows = self._exec(
                    cur,
                    "SELECT t.value, COUNT(*) FROM tags t JOIN accounts a ON a.sync = t.sync AND "
                    "a.account = t.account WHERE t.sync = ? AND t.dimension = ? AND a.present = 1 "
                    "GROUP BY t.value",
                    (sync, dim),
                ).fetchall()
                counts: dict[str, int] = {}
                for value, n in rows:
                    label = NONE_LABEL if value is None else str(value)
                    counts[label] = counts.get(label, 0) + int(n)
                untagged = total - sum(counts.values())
                if untagged > 0:
                    counts[NONE_LABEL] = counts.get(NONE_LABEL, 0) + untagged
                out[dim] = counts
                self._many(
                    cur,
                    "INSERT INTO snapshots (sync, run, dimension, label, n) VALUES (?, ?, ?, ?, ?)",
                    ((sync, run, dim, label, n) for label, n in counts.items()),
                )
        return out

    def snapshots(self, sync: str, run_ids: Sequence[int]) -> dict[int, dict[str, dict[str, int]]]:
        out: dict[int, dict[str, dict[str, int]]] = {}
        if not run_ids:
            return out
        marks = ", ".join("?" * len(run_ids))
        for run, dim, label, n in self._query(
            f"SELECT run, dimension, label, n FROM snapshots WHERE sync = ? AND run IN "
            f"({marks}) ORDER BY run, dimension, label",
            (sync, *run_ids),
        ):
            out.setdefault(int(run), {}).setdefault(dim, {})[label] = int(n)
        return out

    # ------------------------------------------------------------ daemon reports
    def now(self) -> str:
        with self._tx() as cur:
            return iso(self._clock(cur))

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
