"""Deals in the state store, and the attribution's inputs from the recorded tag history.

A mixin of :class:`crmseg.state.sql.SqlStore` (portable SQL over the hooks of
:class:`crmseg.state.sqlbase.SqlBase`), so both
SQLite and PostgreSQL keep deals the same way:

- one ``deals`` row per deal, updated in place (upsert) and stamped with the run that last saw
  it; after a complete *full* read the deals that run did not see are deleted (they were
  deleted in the CRM — deals have no history of their own to keep, unlike accounts);
- the deals' own watermark, a column of ``sync_state`` apart from the accounts' one;
- ``extra`` (the admin's other mapped fields) as JSON: dates and datetimes come back as ISO
  text.

**What "first recorded label" is** (:meth:`DealRows.label_history`). A tag is recorded with a
transition only when it differs from the value before it (``crmseg.state.transitions``), and
``tags`` keeps only the current value — so, per account and dimension:

1. the earliest transition marked ``first_eval`` (the account's first evaluation moved the CRM's
   value): its ``to`` at its time;
2. else, with no transition at all, the recorded tag: crmseg recorded that value (the CRM held
   it already) at ``tags.at`` and it never changed since, so that is exact;
3. else (the first value was recorded silently and moved later) the time of that first record
   is not kept: no first label is given, and the attribution takes the earliest transition's
   ``from`` as the account's earliest label — deals before that move count as *backfilled*,
   never wrongly as *as of*.

Per-run snapshots hold counts only, not per-account labels, so they add nothing here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from crmseg.dates import parse_iso
from crmseg.deals import Deal, FirstLabel, LabelMove
from crmseg.deals.table import DealRow
from crmseg.deals.timelines import RecordedRows
from crmseg.state.sqlbase import SqlBase
from crmseg.state.store import DealCounts, LabelHistory, iso

_COLS = "deal, account, status, amount, currency, created_at, closed_at, stage, pipeline, type, extra"
_PART = 500  # ids per IN (...) list


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def deal_row(sync: str, run: int, d: Deal) -> tuple[Any, ...]:
    """A deal as the ``deals`` table's columns (``sync``, ``_COLS``, ``seen_run``)."""
    return (
        sync,
        d.id,
        d.account_id,
        d.status,
        d.amount,
        d.currency,
        iso(d.created_at),
        d.closed_at.isoformat() if d.closed_at is not None else None,
        d.stage,
        d.pipeline,
        d.type,
        json.dumps(dict(d.extra), default=_json_default, sort_keys=True),
        run,
    )


_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})  # shared by the many deals with no other field


def row_deal(r: Sequence[Any], shared: dict[Any, Any] | None = None) -> Deal:
    """The deal of one ``SELECT {_COLS}`` row. ``shared``: a dict the caller keeps across rows, so
    repeated values (accounts, statuses, currencies, stages, close days) are one object each."""
    one = _same if shared is None else shared.setdefault
    account, status, currency, stage, pipeline, kind = r[1], r[2], r[4], r[7], r[8], r[9]
    closed = date.fromisoformat(r[6]) if r[6] else None
    return Deal(
        id=r[0],
        account_id=one(account, account),
        status=one(status, status),
        amount=None if r[3] is None else float(r[3]),
        currency=one(currency, currency),
        created_at=parse_iso(r[5]),
        closed_at=one(closed, closed),
        stage=one(stage, stage),
        pipeline=one(pipeline, pipeline),
        type=one(kind, kind),
        extra=_NO_EXTRA if r[10] == "{}" else json.loads(r[10]),
    )


def _same(_: Any, value: Any) -> Any:
    return value


class DealRows(SqlBase):
    """The deal part of the state store (see the module's docstring)."""

    def upsert_deals(self, sync: str, run: int, deals: Sequence[Deal]) -> None:
        with self._tx() as cur:
            self._many(
                cur,
                f"INSERT INTO deals (sync, {_COLS}, seen_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (sync, deal) DO UPDATE SET account = excluded.account, status = excluded.status, "
                "amount = excluded.amount, currency = excluded.currency, created_at = excluded.created_at, "
                "closed_at = excluded.closed_at, stage = excluded.stage, pipeline = excluded.pipeline, "
                "type = excluded.type, extra = excluded.extra, seen_run = excluded.seen_run",
                (deal_row(sync, run, d) for d in deals),
            )

    def drop_unseen_deals(self, sync: str, run: int) -> int:
        with self._tx() as cur:
            return int(self._exec(cur, "DELETE FROM deals WHERE sync = ? AND seen_run <> ?", (sync, run)).rowcount or 0)

    def iter_deals(self, sync: str, chunk: int = 5000) -> Iterator[Deal]:
        last = ""
        shared: dict[Any, Any] = {}
        while True:
            rows = self._query(
                f"SELECT {_COLS} FROM deals WHERE sync = ? AND deal > ? ORDER BY deal LIMIT ?", (sync, last, chunk)
            )
            for r in rows:
                yield row_deal(r, shared)
            if len(rows) < chunk:
                return
            last = rows[-1][0]

    def deal_rows(self, sync: str, chunk: int = 50_000) -> Iterator[list[DealRow]]:
        """The sync's deals in id order as :data:`~crmseg.deals.table.DealRow` tuples, ``chunk`` at a
        time: what a review reads (``DealTable.from_rows``), without a ``Deal`` object per row."""
        yield from self._stream(
            "SELECT account, status, amount, created_at, closed_at, currency FROM deals WHERE sync = ? ORDER BY deal",
            (sync,),
            chunk,
        )

    def deal_counts(self, sync: str) -> DealCounts:
        out = DealCounts()
        for status, n in self._query("SELECT status, COUNT(*) FROM deals WHERE sync = ? GROUP BY status", (sync,)):
            if status in ("open", "won", "lost"):
                setattr(out, status, int(n))
        out.no_account = int(
            self._query("SELECT COUNT(*) FROM deals WHERE sync = ? AND account IS NULL", (sync,))[0][0]
        )
        out.unknown_account = int(
            self._query(
                "SELECT COUNT(*) FROM deals d WHERE d.sync = ? AND d.account IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM accounts a WHERE a.sync = d.sync AND a.account = d.account)",
                (sync,),
            )[0][0]
        )
        return out

    def unknown_accounts(self, sync: str, ids: Iterable[str]) -> set[str]:
        wanted = sorted(set(ids))
        known: set[str] = set()
        for i in range(0, len(wanted), _PART):
            part = wanted[i : i + _PART]
            marks = ", ".join("?" * len(part))
            known.update(
                r[0]
                for r in self._query(
                    f"SELECT account FROM accounts WHERE sync = ? AND account IN ({marks})", (sync, *part)
                )
            )
        return set(wanted) - known

    def save_deals_watermark(self, sync: str, watermark: str | None) -> None:
        with self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO sync_state (sync, deals_watermark) VALUES (?, ?) "
                "ON CONFLICT (sync) DO UPDATE SET deals_watermark = excluded.deals_watermark",
                (sync, watermark),
            )

    def label_rows(
        self, sync: str, dimensions: Sequence[str] | None = None, chunk: int = 50_000
    ) -> Iterator[RecordedRows]:
        """The recorded history as kept, ``chunk`` rows at a time: every transition (with whether it
        was logged at the first evaluation, and its id: the log's order), then the recorded tags of the accounts
        and dimensions with no transition. ``crmseg.deals.timelines`` reads the first labels from
        them as :meth:`label_history` does."""
        where, args = "sync = ?", [sync]
        if dimensions is not None:
            if not dimensions:
                return
            where += f" AND dimension IN ({', '.join('?' * len(dimensions))})"
            args += list(dimensions)
        for rows in self._stream(
            # in the index's order, with the id: a sort by id here costs the database more than the
            # caller's sort of the ids (crmseg.deals.timelines)
            f"SELECT account, dimension, from_value, to_value, at, COALESCE(first_eval, 0) = 1, id FROM transitions "
            f"WHERE {where}",
            args,
            chunk,
        ):
            yield RecordedRows(moves=rows)
        # only the tags of accounts and dimensions with no transition are first labels: the others
        # are left in the database (most tags, once a sync has run twice)
        silent = (
            f"SELECT t.account, t.dimension, t.value, t.at FROM tags t JOIN (SELECT account, dimension FROM tags "
            f"WHERE {where} EXCEPT SELECT account, dimension FROM transitions WHERE {where}) s "
            "ON t.sync = ? AND t.account = s.account AND t.dimension = s.dimension"
        )
        for rows in self._stream(silent, [*args, *args, sync], chunk):
            yield RecordedRows(tags=rows)

    def label_history(self, sync: str, dimensions: Sequence[str] | None = None) -> LabelHistory:
        """Per account and dimension, the first recorded label (when known: see the module's
        docstring) and every logged transition, in log order."""
        where, args = "sync = ?", [sync]
        if dimensions is not None:
            if not dimensions:
                return LabelHistory([], [])
            where += f" AND dimension IN ({', '.join('?' * len(dimensions))})"
            args += list(dimensions)
        firsts: dict[tuple[str, str], FirstLabel] = {}
        moved: set[tuple[str, str]] = set()
        moves: list[LabelMove] = []
        shared: dict[Any, Any] = {}
        one = shared.setdefault  # accounts, labels and run times repeat: one object each
        for account, dim, frm, to, at, first_eval in self._query(
            f"SELECT account, dimension, from_value, to_value, at, COALESCE(first_eval, 0) FROM transitions "
            f"WHERE {where} ORDER BY id",
            args,
        ):
            account, dim, frm, to, at = one(account, account), one(dim, dim), one(frm, frm), one(to, to), one(at, at)
            key = (account, dim)
            moved.add(key)
            moves.append(LabelMove(account, dim, frm, to, at))
            if first_eval and key not in firsts:
                firsts[key] = FirstLabel(account, dim, to, at)
        for account, dim, value, at in self._query(
            f"SELECT account, dimension, value, at FROM tags WHERE {where}", args
        ):
            if (account, dim) not in moved:
                firsts[(account, dim)] = FirstLabel(account, dim, value, at)
        return LabelHistory(list(firsts.values()), moves)
