"""Accounts in the SQL store (a mixin of :class:`crmseg.state.sql.SqlStore`): the local copy
of the fields crmseg reads, the tags it recorded and the transition log.

``confirm`` records what the CRM now holds in one transaction: the transitions (diffs against
the recorded tags, :mod:`crmseg.state.transitions`, so each is logged once), the tags, the
fields written into the local copy, and the settled accounts' outbox entries and record errors
cleared.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from crmseg.state.sqlbase import SqlBase
from crmseg.state.store import (
    Confirmed,
    TagRecord,
    Transition,
)
from crmseg.state.transitions import EDIT_RULE, moves


class AccountRows(SqlBase):
    """The local copy, recorded tags and transitions (see the module's docstring)."""

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

    def mark_removed(self, sync: str, ids: Sequence[str]) -> int:
        """Accounts the CRM reports deleted leave the population, as after a full read (history kept)."""
        ids = list(dict.fromkeys(ids))
        gone = 0
        with self._tx() as cur:
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                marks = ", ".join("?" * len(part))
                gone += int(
                    self._exec(
                        cur,
                        f"UPDATE accounts SET present = 0 WHERE sync = ? AND present = 1 AND account IN ({marks})",
                        (sync, *part),
                    ).rowcount
                    or 0
                )
            self._delete_in(cur, "outbox", sync, ids)
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
