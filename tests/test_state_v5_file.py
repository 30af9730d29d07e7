"""A state file the crmseg before deals wrote (tests/data/state-v5-before-deals.sql: schema 5, made by
the code itself, not re-created with today's) upgrades in place when today's crmseg opens it: every
run, transition and snapshot row as it was, the deals' table and watermark added, and the old
history feeding deal attribution."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from crmseg.dates import parse_iso
from crmseg.deals import Deal, TagHistory, attribute
from crmseg.state.migrations import VERSION
from crmseg.state.sqlite import SqliteStore

FIXTURE = Path(__file__).parent / "data" / "state-v5-before-deals.sql"
KEPT = ("runs", "transitions", "snapshots", "accounts", "tags", "sync_state")


def columns(path: Path) -> dict[str, list[str]]:
    con = sqlite3.connect(path)
    try:
        return {t: [r[1] for r in con.execute(f"PRAGMA table_info({t})")] for t in KEPT}
    finally:
        con.close()


def rows(path: Path, cols: dict[str, list[str]]) -> dict[str, list[tuple[object, ...]]]:
    """Each kept table's rows, in the columns given (the schema-5 ones: a migration may add columns)."""
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT {', '.join(c)} FROM {t} ORDER BY rowid").fetchall() for t, c in cols.items()}
    finally:
        con.close()


def test_a_state_file_from_before_deals_upgrades_in_place_keeping_its_history(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    con = sqlite3.connect(path)
    con.executescript(FIXTURE.read_text(encoding="utf-8"))
    con.close()
    old_cols = columns(path)
    before = rows(path, old_cols)
    assert len(before["runs"]) == 2 and len(before["transitions"]) == 38 and before["snapshots"]

    store = SqliteStore(path)  # opening migrates
    try:
        assert store.schema_version() == VERSION >= 6
        runs = store.runs("demo")
        assert [(r.id, r.status) for r in runs] == [(1, "succeeded"), (2, "succeeded")]
        assert store.sync_state("demo").deals_watermark is None and store.deal_counts("demo").total == 0
        moves = [t for t in store.transitions("demo") if t.dimension == "segment" and not t.first_eval]
        assert {(t.account, t.from_value, t.to_value) for t in moves} == {
            ("acc-000003", "Mid-Market", "Enterprise"),
            ("acc-000004", "Digital Native", "Enterprise"),
        }
        # deals join the old history. acc-000004's first label was logged at run 1 (SMB -> Digital
        # Native, a first-evaluation transition): a deal made between the runs is attributed as of its
        # time. acc-000003's was recorded silently (the file held Mid-Market already), so before its
        # move a deal is backfilled with the earliest recorded label (docs/deals.md).
        between = parse_iso(runs[1].started_at) - timedelta(milliseconds=1)
        after = parse_iso(runs[1].finished_at or "") + timedelta(seconds=1)
        deals = [
            Deal(id="d1", account_id="acc-000004", status="open", created_at=between),
            Deal(id="d2", account_id="acc-000004", status="won", created_at=after),
            Deal(id="d3", account_id="acc-000003", status="lost", created_at=between),
            Deal(id="d4", account_id="acc-999999", status="lost", created_at=after),
        ]
        run = store.begin_run("demo", "full", None, "fp", "h", runs[1].finished_at or "")
        store.upsert_deals("demo", run, deals)
        history = TagHistory(*store.label_history("demo", ["segment"]))
        got = attribute(list(store.iter_deals("demo")), history, "segment")
        assert [(d.deal.id, d.label, d.basis) for d in got.deals] == [
            ("d1", "Digital Native", "as_of"),
            ("d2", "Enterprise", "as_of"),
            ("d3", "Mid-Market", "backfilled"),
            ("d4", None, "unknown_account"),
        ]
    finally:
        store.close()
    after_rows = rows(path, old_cols)
    assert after_rows["transitions"] == before["transitions"] and after_rows["snapshots"] == before["snapshots"]
    assert after_rows["runs"][:2] == before["runs"] and after_rows["accounts"] == before["accounts"]
    assert after_rows["tags"] == before["tags"]
