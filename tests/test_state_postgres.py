"""The PostgreSQL state store beyond the shared contract: lease races between processes,
renewal beside a long transaction, concurrent and idempotent migrations, connection errors.

Runs on the real server ``tests/pg_server.py`` starts (skipped, saying why, without it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from crmseg.config import StateConfig
from crmseg.errors import ConfigError, FatalError
from crmseg.state.migrations import VERSION
from crmseg.state.postgres import PostgresStore, display_url, to_pyformat

pytestmark = pytest.mark.postgres


def open_many(pg_server: Any, url: str, n: int, migrate: bool = True) -> list[PostgresStore]:
    """``n`` stores on ``url``: ``n`` separate connections, as ``n`` daemons would have."""
    return [PostgresStore(url, password=pg_server.password, migrate=migrate) for _ in range(n)]


def at_once(stores: list[PostgresStore], fn: Callable[[int, PostgresStore], Any]) -> list[Any]:
    """``fn(i, store)`` in one thread per store, released together; results (or the exception raised)."""
    barrier = threading.Barrier(len(stores))
    out: list[Any] = [None] * len(stores)

    def work(i: int, store: PostgresStore) -> None:
        barrier.wait()
        try:
            out[i] = fn(i, store)
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def close_all(stores: list[PostgresStore]) -> None:
    for s in stores:
        s.close()


# ---------------------------------------------------------------- leases
def test_daemons_acquiring_a_free_lease_at_the_same_instant_get_exactly_one_winner(pg_server, pg_url):
    stores = open_many(pg_server, pg_url, 4)
    try:
        for round_ in range(30):
            sync = f"sync{round_}"
            got = at_once(
                stores, lambda i, s, sync=sync: s.acquire_lease(sync, f"host{i}:{100 + i}:n", f"host{i}", 100 + i, 60)
            )
            assert not [g for g in got if isinstance(g, Exception)], got
            winners = [i for i, g in enumerate(got) if g is None]
            assert len(winners) == 1, (round_, got)
            holder = f"host{winners[0]}:{100 + winners[0]}:n"
            assert {g.holder for g in got if g is not None} == {holder}  # every loser is told who won
            assert stores[0].lease(sync).holder == holder
    finally:
        close_all(stores)


def test_daemons_taking_over_an_expired_lease_at_the_same_instant_get_exactly_one_winner(pg_server, pg_url):
    stores = open_many(pg_server, pg_url, 4)
    try:
        for round_ in range(15):
            sync = f"sync{round_}"
            assert stores[0].acquire_lease(sync, "dead:1:x", "dead", 1, 0.05) is None
            time.sleep(0.1)  # the dead host's lease has expired
            got = at_once(stores, lambda i, s, sync=sync: s.acquire_lease(sync, f"host{i}:{i}:n", f"host{i}", i, 60))
            assert not [g for g in got if isinstance(g, Exception)], got
            winners = [i for i, g in enumerate(got) if g is None]
            assert len(winners) == 1, (round_, got)
            assert stores[1].lease(sync).holder == f"host{winners[0]}:{winners[0]}:n"
    finally:
        close_all(stores)


def test_the_lease_is_renewed_from_another_thread_while_the_run_is_inside_a_long_transaction(pg_server, pg_url):
    store = PostgresStore(pg_url, password=pg_server.password)
    try:
        assert store.acquire_lease("demo", "h:1:a", "h", 1, 60) is None
        before = store.lease("demo").expires_at
        renewed: list[bool] = []
        with store._tx() as cur:  # the run's write transaction, still open
            cur.execute("INSERT INTO sync_state (sync) VALUES ('demo')")
            t = threading.Thread(target=lambda: renewed.append(store.renew_lease("demo", "h:1:a", 120)))
            t.start()
            t.join(10)
            assert renewed == [True]  # done while the transaction is open: not queued behind it
        assert store.lease("demo").expires_at > before
        assert store.sync_state("demo").watermark is None
    finally:
        store.close()


def test_lease_times_come_from_the_server_clock(pg_server, pg_url):
    store = PostgresStore(pg_url, password=pg_server.password)
    try:
        store.acquire_lease("demo", "h:1:a", "h", 1, 30)
        lease = store.lease("demo")
        server_now = store._query(
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        )[0][0]
        assert lease.acquired_at <= server_now < lease.expires_at
        assert lease.acquired_at.endswith("Z") and len(lease.acquired_at) == len("2026-11-01T00:00:00.000000Z")
    finally:
        store.close()


# ---------------------------------------------------------------- migrations
def test_migrate_creates_the_schema_in_an_empty_database_and_then_changes_nothing(pg_server, pg_url):
    store = PostgresStore(pg_url, password=pg_server.password, migrate=False)
    try:
        assert store.schema_version() == 0
        assert store.migrate() == VERSION == store.schema_version()
        tables = {r[0] for r in store._query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert tables == {
            "meta",
            "runs",
            "sync_state",
            "accounts",
            "tags",
            "transitions",
            "snapshots",
            "locks",
            "outbox",
            "record_errors",
            "rule_status",
            "schedules",
            "deals",
        }
        run = store.begin_run("demo", "full", None, "fp", "h", "2026-11-01T00:00:00.000000Z")
        assert store.migrate() == VERSION
        assert store._query("SELECT COUNT(*) FROM meta")[0][0] == 1
        assert store.last_run("demo").id == run  # history kept
    finally:
        store.close()
    again = PostgresStore(pg_url, password=pg_server.password)  # opening migrates: nothing to do
    try:
        assert again.schema_version() == VERSION and again.last_run("demo").id == run
    finally:
        again.close()


def test_processes_starting_together_on_an_empty_database_migrate_it_once(pg_server, pg_url):
    stores = open_many(pg_server, pg_url, 4, migrate=False)
    try:
        got = at_once(stores, lambda i, s: s.migrate())
        assert got == [VERSION] * 4
        assert stores[0]._query("SELECT key, value FROM meta") == [("schema_version", str(VERSION))]
        assert stores[3].begin_run("demo", "full", None, "fp", "h", "t") == 1
    finally:
        close_all(stores)


def test_a_role_that_may_not_create_tables_gets_a_clear_error(pg_server):
    with pg_server.admin() as conn:
        conn.execute("CREATE DATABASE not_ours")  # owned by postgres: crmseg may connect, not create
    with pytest.raises(ConfigError, match=r"not_ours: cannot create or upgrade the state schema: .*permission denied"):
        PostgresStore(pg_server.url("not_ours"), password=pg_server.password)


def test_a_database_from_a_newer_crmseg_is_refused(pg_server, pg_url):
    PostgresStore(pg_url, password=pg_server.password).close()
    with pg_server.admin(pg_url.rsplit("/", 1)[1]) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(VERSION + 1),))
    with pytest.raises(ConfigError, match=f"version {VERSION + 1} is newer"):
        PostgresStore(pg_url, password=pg_server.password)


# ---------------------------------------------------------------- connecting
def test_from_config_reads_the_password_from_the_named_variable(pg_server, pg_url, monkeypatch):
    monkeypatch.setenv("MY_PG_PW", pg_server.password)
    store = PostgresStore.from_config(StateConfig(url=pg_url, password_env="MY_PG_PW"))
    try:
        assert store.where == pg_url and store.schema_version() == VERSION
    finally:
        store.close()


def test_bad_password_missing_password_and_unreachable_server_are_config_errors_without_the_password(
    pg_server, pg_url, monkeypatch
):
    monkeypatch.setenv("MY_PG_PW", "not-the-password")
    with pytest.raises(ConfigError) as bad:
        PostgresStore.from_config(StateConfig(url=pg_url, password_env="MY_PG_PW"))
    assert str(bad.value).startswith(f"{pg_url}: cannot connect to the PostgreSQL state store")
    assert "password authentication failed" in str(bad.value) and "not-the-password" not in str(bad.value)
    monkeypatch.delenv("MY_PG_PW")
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(ConfigError, match="is MY_PG_PW set"):
        PostgresStore.from_config(StateConfig(url=pg_url, password_env="MY_PG_PW"))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(ConfigError, match=rf"postgresql://crmseg@127\.0\.0\.1:{closed}/x: cannot connect"):
            PostgresStore(f"postgresql://crmseg@127.0.0.1:{closed}/x", password="secret-pw")


def test_urls_are_shown_without_a_password_and_placeholders_are_translated():
    assert (
        display_url("postgresql://u:pw@db.example:5432/crm?sslmode=require&password=x")
        == "postgresql://u@db.example:5432/crm?sslmode=require"
    )
    assert display_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert (
        to_pyformat("SELECT '5%' FROM t WHERE a = ? AND b IN (?, ?)")
        == "SELECT '5%%' FROM t WHERE a = %s AND b IN (%s, %s)"
    )


def test_a_dropped_connection_is_opened_again_on_the_next_call(pg_server, pg_url):
    store = PostgresStore(pg_url, password=pg_server.password)
    try:
        store.begin_run("demo", "full", None, "fp", "h", "t")
        with pg_server.admin() as admin:  # the server ends crmseg's sessions (restart, failover, idle kill)
            admin.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = %s",
                (pg_url.rsplit("/", 1)[1],),
            )
        with pytest.raises(FatalError, match=f"^{pg_url}: the PostgreSQL state store failed"):
            store.last_run("demo")  # the call in flight fails, naming the store
        assert store.last_run("demo").sync == "demo"  # the next one reconnects
    finally:
        store.close()
