"""Writes in flight in the SQL store (a mixin of :class:`crmseg.state.sql.SqlStore`): the outbox
(tag writes sent to the CRM whose outcome is not recorded yet) and the per-record errors
(attempt counts, permanent ones kept apart). ``AccountRows.confirm`` clears both for the
accounts it settles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from crmseg.state.sqlbase import SqlBase
from crmseg.state.store import (
    DimTag,
    PendingWrite,
    RecordError,
)


class OutboxRows(SqlBase):
    """The outbox and the record errors (see the module's docstring)."""

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
