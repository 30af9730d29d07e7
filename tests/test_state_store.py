"""The state store contract, run against every backend the ``store`` fixture yields.

On a SQLite file and on a fresh database of a real PostgreSQL server the tests start
themselves (``tests/state_backends.py``, ``tests/pg_server.py``).
"""

from __future__ import annotations

import sqlite3
import time

import pytest

from crmseg.errors import ConfigError
from crmseg.state.migrations import MIGRATIONS, VERSION
from crmseg.state.sqlite import SqliteStore
from crmseg.state.store import Confirmed, DimTag, PendingWrite, RecordError, SyncState

from .state_backends import backend_params, open_backend

T0, T1 = "2026-11-01T00:00:00.000000Z", "2026-11-01T00:01:00.000000Z"


@pytest.fixture(params=backend_params())
def store(request, tmp_path):
    s = open_backend(request.param, tmp_path, request)
    yield s
    s.close()


def test_a_run_is_recorded_with_its_counts_and_watermarks(store):
    run = store.begin_run("demo", "full", None, "fp1", "h:1:a", T0)
    assert store.last_run("demo").status == "running"
    store.finish_run(
        run,
        "partial",
        T1,
        {"read": 10, "written": 7, "failed": 3, "api_calls": 4},
        "2026-11-01T00:00:00Z",
        "3 records failed",
        api_remaining=990,
    )
    row = store.last_run("demo")
    assert (row.id, row.status, row.mode, row.finished_at) == (run, "partial", "full", T1)
    assert row.counts["read"] == 10 and row.counts["written"] == 7 and row.counts["failed"] == 3
    assert row.counts["api_calls"] == 4 and row.api_remaining == 990
    assert row.watermark_after == "2026-11-01T00:00:00Z" and row.rules_fingerprint == "fp1"
    assert row.as_dict()["read"] == 10
    assert store.last_run("other") is None
    assert store.syncs() == ["demo"]


def test_runs_left_running_are_marked_aborted(store):
    a = store.begin_run("demo", "full", None, "fp", "h:1:a", T0)
    b = store.begin_run("other", "full", None, "fp", "h:1:b", T0)
    assert store.abort_stale_runs("demo", T1, "died") == [a]
    assert store.last_run("demo").status == "aborted" and store.last_run("demo").message == "died"
    assert store.last_run("other").status == "running"
    assert store.abort_stale_runs("demo", T1, "died") == [] and b


def test_the_lease_admits_one_holder_until_it_expires(store):
    assert store.acquire_lease("demo", "h:1:a", "h", 1, 60) is None
    taken = store.acquire_lease("demo", "h:2:b", "h", 2, 60)
    assert taken is not None and taken.holder == "h:1:a" and taken.pid == 1
    assert store.acquire_lease("other", "h:2:b", "h", 2, 60) is None  # one lease per sync
    assert store.renew_lease("demo", "h:1:a", 60) is True
    assert store.renew_lease("demo", "h:2:b", 60) is False
    store.release_lease("demo", "h:2:b")  # not the holder: nothing happens
    assert store.lease("demo").holder == "h:1:a"
    store.release_lease("demo", "h:1:a")
    assert store.lease("demo") is None
    assert store.acquire_lease("demo", "h:2:b", "h", 2, 0.2) is None
    time.sleep(0.3)  # expired: the next process takes it over
    assert store.acquire_lease("demo", "h:3:c", "h", 3, 60) is None
    assert store.lease("demo").holder == "h:3:c"


def test_sync_state_round_trips(store):
    assert store.sync_state("demo") == SyncState()
    store.save_sync_state("demo", SyncState("2026-11-01T00:00:00Z", "fp", "rf", T0))
    store.save_sync_state("demo", SyncState("2026-11-02T00:00:00Z", "fp2", "rf", T0))
    assert store.sync_state("demo") == SyncState("2026-11-02T00:00:00Z", "fp2", "rf", T0)


def test_the_crm_identity_is_kept_apart_from_the_watermark(store):
    store.bind_identity("demo", "salesforce:00DSb0000000001", "https://acme.my.salesforce.com")
    state = store.sync_state("demo")
    assert (state.identity, state.identity_where, state.watermark) == (
        "salesforce:00DSb0000000001",
        "https://acme.my.salesforce.com",
        None,
    )
    store.save_sync_state("demo", SyncState("2026-11-01T00:00:00Z", "fp", "rf", T0))  # leaves the identity
    assert store.sync_state("demo") == SyncState(
        "2026-11-01T00:00:00Z", "fp", "rf", T0, "salesforce:00DSb0000000001", "https://acme.my.salesforce.com"
    )
    store.bind_identity("demo", "salesforce:00DSb0000000001", "https://acme2.my.salesforce.com")
    assert store.sync_state("demo").identity_where == "https://acme2.my.salesforce.com"
    assert store.sync_state("demo").watermark == "2026-11-01T00:00:00Z"


def test_reset_forgets_the_crm_but_keeps_the_history(store):
    run = store.begin_run("demo", "full", None, "fp", "h", T0)
    other = store.begin_run("other", "full", None, "fp", "h", T0)
    for sync, r in (("demo", run), ("other", other)):
        store.upsert_accounts(sync, r, [("a", {"n": 1}), ("b", {"n": 2})])
        store.confirm(sync, r, T0, [Confirmed("a", {"segment": DimTag(None, "SMB", "r")})])
        store.put_outbox(sync, [PendingWrite("b", r, {"segment": DimTag(None, "Enterprise", "r")})])
        store.record_failures(sync, r, T0, [RecordError("b", "x", False)])
        store.write_snapshot(sync, r, ["segment"])
        store.save_sync_state(sync, SyncState("2026-11-01T00:00:00Z", "fp", "rf", T0))
        store.bind_identity(sync, "hubspot:1", "app.hubspot.com")
        store.finish_run(r, "succeeded", T1, {"read": 2})
    counts = store.reset_sync("demo")
    assert counts == {"accounts": 2, "tags": 1, "outbox": 1, "record_errors": 1, "sync_state": 1, "deals": 0}
    assert store.account_count("demo") == 0 and store.recorded_tags("demo", ["a"]) == {}
    assert store.outbox("demo") == {} and store.record_errors("demo") == {}
    assert store.sync_state("demo") == SyncState()
    assert [r.id for r in store.runs("demo")] == [run] and len(store.transitions("demo")) == 1
    assert store.snapshots("demo", [run])[run] == {"segment": {"SMB": 1, "(none)": 1}}
    assert store.account_count("other") == 2 and store.sync_state("other").identity == "hubspot:1"
    assert store.reset_sync("demo") == dict.fromkeys(counts, 0)


def test_local_copy_upserts_iterates_in_chunks_and_marks_absent(store):
    r1 = store.begin_run("demo", "full", None, "fp", "h", T0)
    store.upsert_accounts("demo", r1, [(f"a{i:03d}", {"n": i}) for i in range(25)])
    assert [rid for rid, _ in store.iter_accounts("demo", chunk=7)] == [f"a{i:03d}" for i in range(25)]
    assert dict(store.iter_accounts("demo", ids=["a003", "zzz"])) == {"a003": {"n": 3}}
    r2 = store.begin_run("demo", "full", None, "fp", "h", T1)
    store.upsert_accounts("demo", r2, [(f"a{i:03d}", {"n": i * 10}) for i in range(20)])
    assert store.mark_absent("demo", r2) == 5
    assert store.account_count("demo") == 20
    assert dict(store.iter_accounts("demo", ids=["a002"])) == {"a002": {"n": 20}}


def test_confirm_logs_each_transition_once_and_updates_the_copy(store):
    run = store.begin_run("demo", "full", None, "fp", "h", T0)
    store.upsert_accounts("demo", run, [("a", {"Seg": "SMB", "x": 1}), ("b", {"Seg": None})])
    first = [
        Confirmed("a", {"segment": ("SMB", "Enterprise", "big")}, {"Seg": "Enterprise"}),
        Confirmed("b", {"segment": (None, None, "(default)")}),
    ]
    assert store.confirm("demo", run, T0, first) == 1
    # the next run reads the value back from the CRM: recorded already, nothing is logged again
    again = [
        Confirmed("a", {"segment": ("Enterprise", "Enterprise", "big")}),
        Confirmed("b", {"segment": (None, None, "x")}),
    ]
    assert store.confirm("demo", run, T0, again) == 0
    assert dict(store.iter_accounts("demo", ids=["a"]))["a"] == {"Seg": "Enterprise", "x": 1}
    # someone set b to SMB in the CRM, crmseg then writes Mid-Market: the edit and the write are both logged
    assert store.confirm("demo", run, T1, [Confirmed("b", {"segment": ("SMB", "Mid-Market", "mid")})]) == 2
    moves = [(t.account, t.from_value, t.to_value, t.rule) for t in store.transitions("demo")]
    assert moves == [
        ("a", "SMB", "Enterprise", "big"),
        ("b", None, "SMB", "(crm edit)"),
        ("b", "SMB", "Mid-Market", "mid"),
    ]
    assert store.recorded_tags("demo", ["a", "b", "c"]) == {
        "a": {"segment": "Enterprise"},
        "b": {"segment": "Mid-Market"},
    }
    assert [t.account for t in store.transitions("demo", since=T1)] == ["b", "b"]
    assert store.transitions("demo", run_ids=[]) == []


def test_outbox_entries_survive_until_confirmed_or_failed(store):
    run = store.begin_run("demo", "full", None, "fp", "h", T0)
    store.put_outbox(
        "demo",
        [
            PendingWrite("a", run, {"segment": ("SMB", "Enterprise", "big")}, {"Seg": "Enterprise"}),
            PendingWrite("b", run, {"segment": (None, "SMB", "small")}, {"Seg": "SMB"}),
        ],
    )
    pending = store.outbox("demo")
    assert set(pending) == {"a", "b"}
    assert type(pending["a"].dims["segment"]) is DimTag  # read back from its JSON list
    assert pending["a"].dims == {"segment": DimTag("SMB", "Enterprise", "big")} and pending["a"].fields == {
        "Seg": "Enterprise"
    }
    store.confirm("demo", run, T0, [Confirmed("a", {"segment": ("SMB", "Enterprise", "big")}, settles=False)])
    assert set(store.outbox("demo")) == {"a", "b"}  # an unsettled confirm leaves the write pending
    store.confirm("demo", run, T0, [Confirmed("a", {"segment": ("SMB", "Enterprise", "big")})])
    store.record_failures("demo", run, T0, [RecordError("b", "UNABLE_TO_LOCK_ROW", False, targets={"segment": "SMB"})])
    # a refused record stays in the outbox: an earlier, unanswered attempt may have been applied
    assert set(store.outbox("demo")) == {"b"}
    store.drop_outbox("demo", ["b"])
    assert store.outbox("demo") == {}
    store.put_outbox("demo", [PendingWrite("c", run, {}, {})])
    store.drop_outbox("demo", ["c"])
    assert store.outbox("demo") == {}


def test_record_errors_count_attempts_and_clear_on_success(store):
    r1 = store.begin_run("demo", "full", None, "fp", "h", T0)
    store.record_failures("demo", r1, T0, [RecordError("a", "UNABLE_TO_LOCK_ROW", False, targets={"segment": "SMB"})])
    r2 = store.begin_run("demo", "full", None, "fp", "h", T1)
    store.record_failures(
        "demo",
        r2,
        T1,
        [
            RecordError("a", "INVALID_OPTION", True, targets={"segment": "SMB"}),
            RecordError("b", "ENTITY_IS_DELETED", True),
        ],
    )
    errs = store.record_errors("demo")
    assert errs["a"].attempts == 2 and errs["a"].permanent and errs["a"].first_run == r1 and errs["a"].last_run == r2
    assert errs["a"].targets == {"segment": "SMB"} and errs["b"].attempts == 1
    store.confirm("demo", r2, T1, [Confirmed("a", {"segment": (None, "SMB", "small")})])
    assert set(store.record_errors("demo")) == {"b"}
    store.clear_errors("demo", ["b"])
    assert store.record_errors("demo") == {}


def test_snapshot_counts_present_accounts_with_none_for_untagged(store):
    run = store.begin_run("demo", "full", None, "fp", "h", T0)
    store.upsert_accounts("demo", run, [(x, {}) for x in "abcd"])
    store.confirm(
        "demo",
        run,
        T0,
        [
            Confirmed("a", {"segment": (None, "SMB", "r")}),
            Confirmed("b", {"segment": (None, "SMB", "r")}),
            Confirmed("c", {"segment": (None, "Enterprise", "r")}),
        ],
    )
    assert store.write_snapshot("demo", run, ["segment", "tier"]) == {
        "segment": {"SMB": 2, "Enterprise": 1, "(none)": 1},
        "tier": {"(none)": 4},
    }
    run2 = store.begin_run("demo", "full", None, "fp", "h", T1)
    store.upsert_accounts("demo", run2, [(x, {}) for x in "ab"])
    store.mark_absent("demo", run2)  # c and d left the population; their history stays
    store.write_snapshot("demo", run2, ["segment"])
    snaps = store.snapshots("demo", [run, run2])
    assert snaps[run2] == {"segment": {"SMB": 2}}
    assert snaps[run]["segment"]["Enterprise"] == 1
    assert len(store.transitions("demo")) == 3


def test_sqlite_file_uses_wal_and_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for stmt in MIGRATIONS[0]:  # a version-1 file with history in it
        conn.execute(stmt.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT", big="INTEGER"))
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    conn.execute("INSERT INTO runs (sync, mode, status, started_at) VALUES ('demo', 'full', 'succeeded', ?)", (T0,))
    conn.execute(
        "INSERT INTO transitions (sync, account, dimension, from_value, to_value, rule, run, at) "
        "VALUES ('demo', 'a', 'segment', NULL, 'SMB', 'r', 1, ?)",
        (T0,),
    )
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    try:
        assert store.schema_version() == VERSION > 1
        assert store.last_run("demo").status == "succeeded" and store.last_run("demo").counts["blocked"] == 0
        assert len(store.transitions("demo")) == 1
        store.record_failures("demo", 1, T1, [RecordError("a", "x", False)])  # a table from migration 2
        mode = store._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        store.close()


def test_a_state_file_from_a_newer_crmseg_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match=f"version {VERSION + 1} is newer"):
        SqliteStore(path)


def test_text_sorts_in_byte_order_whatever_the_database_locale(store):
    ids = ["a-b", "a_b", "aB", "ab", "A", "Ab", "b", "B", "é", "z"]
    run = store.begin_run("beta", "full", None, "fp", "h", T0)
    for name in ("alpha", "Zed", "Alpha"):
        store.begin_run(name, "full", None, "fp", "h", T0)
    assert store.syncs() == sorted(["beta", "alpha", "Zed", "Alpha"])
    store.upsert_accounts("beta", run, [(i, {"i": i}) for i in ids])
    assert [rid for rid, _ in store.iter_accounts("beta", chunk=3)] == sorted(ids)  # keyset paging agrees
    store.record_failures("beta", run, T0, [RecordError(i, "x", False) for i in ids])
    assert list(store.record_errors("beta")) == sorted(ids)


def test_tag_records_give_value_rule_and_run_filtered_by_accounts_or_rule_prefix(store):
    run = store.begin_run("demo", "full", None, "fp", "h", T0)
    store.confirm(
        "demo",
        run,
        T0,
        [
            Confirmed("a", {"segment": (None, "SMB", "smb"), "tier": (None, "1", "undo:7")}),
            Confirmed("b", {"segment": (None, "Mid", "undo_x")}),  # "_" is no wildcard
        ],
    )
    assert sorted(store.tag_records("demo", ["a"])) == [
        ("a", "segment", "SMB", "smb", run),
        ("a", "tier", "1", "undo:7", run),
    ]
    assert store.tag_records("demo", rule_prefix="undo:") == [("a", "tier", "1", "undo:7", run)]
    assert store.tag_records("demo", ["b"], rule_prefix="undo:") == []
    assert store.tag_records("other") == []
    row = store.run(run)
    assert row is not None and (row.sync, row.rules_fingerprint) == ("demo", "fp")
    assert store.run(run + 100) is None
