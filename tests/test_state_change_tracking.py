"""What change tracking keeps in the state store (schema v7) on SQLite and PostgreSQL: the delta
link beside the watermark (a v6 state upgrades in place), accounts the CRM reports deleted
leaving the population as a full read has them leave it, and a run's mode changed at its end."""

from __future__ import annotations

import pytest

import crmseg.state.sql as sql_module
from crmseg.state.migrations import VERSION
from crmseg.state.sqlite import SqliteStore
from crmseg.state.store import Confirmed, DimTag, PendingWrite, SyncState

from .state_backends import backend_params, open_backend

T0, T1, T2 = "2026-01-01T00:00:00.000000Z", "2026-02-01T00:00:00.000000Z", "2026-03-01T00:00:00.000000Z"
LINK = "https://contoso.crm.dynamics.com/api/data/v9.2/accounts?$select=name&$deltatoken=919042%2108%2f22%2f2017"


@pytest.fixture(params=backend_params())
def store(request, tmp_path):
    s = open_backend(request.param, tmp_path, request)
    yield s
    s.close()


def _unmigrated(name, tmp_path, request, url=None):
    if name == "sqlite":
        return SqliteStore(tmp_path / "state.sqlite", migrate=False)
    from crmseg.state.postgres import PostgresStore

    server = request.getfixturevalue("pg_server")
    return PostgresStore(url or server.new_database(), password=server.password, migrate=False)


@pytest.mark.parametrize("backend", backend_params())
def test_a_v6_state_upgrades_in_place_with_no_delta_link(backend, tmp_path, request, monkeypatch):
    assert VERSION == 7
    old = _unmigrated(backend, tmp_path, request)
    monkeypatch.setattr(sql_module, "VERSION", 6)  # the schema as the crmseg before change tracking wrote it
    assert old.migrate() == 6
    run = old.begin_run("demo", "full", None, "fp", "h", T0)
    old.upsert_accounts("demo", run, [("a", {"n": 1})])
    with old._tx() as cur:  # the v6 columns only (today's save_sync_state writes the delta link too)
        old._exec(
            cur,
            "INSERT INTO sync_state (sync, watermark, rules_fingerprint, read_fingerprint, last_full_at) "
            "VALUES (?, ?, ?, ?, ?)",
            ("demo", T0, "fp", "rf", T0),
        )
    old.save_deals_watermark("demo", T1)
    old.finish_run(run, "succeeded", T1, {"read": 1})
    before = old.runs("demo")
    url = getattr(old, "url", None)
    old.close()
    monkeypatch.undo()

    new = _unmigrated(backend, tmp_path, request, url)
    try:
        assert new.schema_version() == 6 and new.migrate() == 7 == new.schema_version()
        assert new.runs("demo") == before and new.account_count("demo") == 1
        assert new.sync_state("demo") == SyncState(T0, "fp", "rf", T0, deals_watermark=T1)  # no delta link
    finally:
        new.close()


def test_the_delta_link_is_kept_beside_the_watermark_and_reset_forgets_it(store):
    store.save_sync_state("demo", SyncState(T0, "fp", "rf", T0, delta_link=LINK))
    store.bind_identity("demo", "dynamics:org", "https://contoso.crm.dynamics.com")
    store.save_deals_watermark("demo", T1)
    state = store.sync_state("demo")
    assert (state.watermark, state.delta_link, state.identity, state.deals_watermark) == (
        T0,
        LINK,
        "dynamics:org",
        T1,
    )
    store.save_sync_state("demo", SyncState(T1, "fp", "rf", T0))  # a run that did not track changes
    assert store.sync_state("demo").delta_link is None
    store.save_sync_state("demo", SyncState(T1, "fp", "rf", T0, delta_link=LINK))
    store.reset_sync("demo")
    assert store.sync_state("demo") == SyncState()


def test_accounts_reported_deleted_leave_the_population_keeping_their_history(store):
    r1 = store.begin_run("demo", "full", None, "fp", "h", T0)
    store.upsert_accounts("demo", r1, [(f"a{i}", {"n": i}) for i in range(5)])
    store.upsert_accounts("other", r1, [("a1", {"n": 1})])
    store.confirm("demo", r1, T0, [Confirmed("a1", {"segment": DimTag(None, "SMB", "r")})])
    store.put_outbox("demo", [PendingWrite("a2", r1, {"segment": DimTag(None, "SMB", "r")})])
    # a1 and a2 deleted; a9 never read (created and deleted between two runs); a1 twice
    assert store.mark_removed("demo", ["a1", "a2", "a9", "a1"]) == 2
    assert store.mark_removed("demo", ["a1"]) == 0  # already out
    assert [rid for rid, _ in store.iter_accounts("demo")] == ["a0", "a3", "a4"]
    assert store.account_count("demo") == 3 and store.account_count("other") == 1
    assert store.outbox("demo") == {}
    assert store.recorded_tags("demo", ["a1"]) == {"a1": {"segment": "SMB"}}  # history stays
    assert len(store.transitions("demo", account="a1")) == 1
    r2 = store.begin_run("demo", "incremental", T0, "fp", "h", T1)
    store.upsert_accounts("demo", r2, [("a1", {"n": 10})])  # restored in the CRM: back in
    assert store.account_count("demo") == 4


def test_a_run_that_read_in_full_instead_records_its_mode_at_the_end(store):
    run = store.begin_run("demo", "incremental", T0, "fp", "h", T1)
    store.finish_run(run, "succeeded", T2, {"read": 3}, mode="full")
    assert store.run(run).mode == "full"
    other = store.begin_run("demo", "incremental", T0, "fp", "h", T1)
    store.finish_run(other, "succeeded", T2, {"read": 3})  # no mode given: the one it began with
    assert store.run(other).mode == "incremental"
