"""``crmseg sync`` against the Zoho CRM sandbox (real HTTP on 127.0.0.1, the real CLI in-process):
an incremental run reads the changes by ``If-Modified-Since`` and then, with the same ``since``,
the list of deleted records; the accounts in it leave the population (their history kept). A run
that fails before its watermark moves asks for the same deletions again, harmlessly."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .sync_env import SyncEnv

N = 300


@pytest.fixture
def env(tmp_path):
    e = SyncEnv(tmp_path, "zoho", N)
    yield e
    e.close()


def _history(env: SyncEnv, rid: str) -> int:
    return sum(n for t, n in env.transitions().items() if t[0] == env.seed_of[rid])


def _past_the_last_write(env: SyncEnv, timeout: float = 10.0) -> None:
    """Wait until the sandbox's clock is in a later second than every record's modification (Zoho
    keeps whole seconds: a run starting in the second of an earlier write would read it again)."""
    newest = max(r.modified_ms for r in env.sb.store.scan()) // 1000
    deadline = time.monotonic() + timeout
    while env.sb.app.now_ms() // 1000 <= newest:
        assert time.monotonic() < deadline, "the sandbox clock did not move on"
        time.sleep(0.05)


def _settled(env: SyncEnv) -> None:
    """A full sync, then one that reads its writes back: the state as a daemon leaves it."""
    first = env.sync()
    assert first.returncode == 0, first.stdout + first.stderr
    _past_the_last_write(env)
    again = env.sync()
    assert again.returncode == 0 and env.runs()[-1].counts["written"] == 0, again.stdout + again.stderr
    _past_the_last_write(env)


def test_an_incremental_sync_reads_the_changes_then_the_deletions_and_drops_them(env):
    _settled(env)
    ids = env.sb.ids()
    changed, gone = ids[10:13], ids[40:42]
    history = {rid: _history(env, rid) for rid in gone}
    assert all(history.values())  # the first sync tagged them
    env.sb.reset_stats()
    env.sb.edit(touch=changed)
    env.delete_in_crm(gone)
    _past_the_last_write(env)  # so this run's watermark is past them, and the next run reads nothing

    res = env.sync()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "deleted in the CRM: 2 account(s), out of the population now" in res.stdout
    calls = env.calls()
    assert calls["records_page"] == 1 and calls["deleted"] == 1  # the 3 changes, then the deletions
    assert "records_token" not in calls and "update" not in calls
    run = env.runs()[-1]
    assert (run.mode, run.counts["read"], run.counts["evaluated"], run.counts["written"]) == ("incremental", 3, 3, 0)
    assert env.sb.stats()["api_usage"]["used"] == 2 + 1 + 2  # fields and org; one page; the deleted ids cost 2

    present = env.present()
    assert len(present) == N - 2 and not present & set(gone) and set(changed) <= present
    assert {rid: _history(env, rid) for rid in gone} == history  # their history stays
    store = env.store()
    try:
        assert store.account_count("sandbox") == N - 2
        snap = store.snapshots("sandbox", [run.id])[run.id]
        assert sum(snap["segment"].values()) == N - 2
    finally:
        store.close()

    env.sb.reset_stats()
    quiet = env.sync()  # nothing changed or deleted since: a 304 for each
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert env.calls()["records_page"] == env.calls()["deleted"] == 1
    assert env.sb.stats()["calls"]["by_status"]["304"] == 2
    assert env.runs()[-1].counts["read"] == 0 and "deleted in the CRM" not in quiet.stdout


def test_a_failed_run_keeps_its_watermark_and_the_rerun_reads_the_same_deletions(env):
    _settled(env)
    ids = env.sb.ids()
    pin = env.sb.mapping.pin_field
    retag = next(r.id for r in env.sb.store.scan() if str(r.data.get(pin)).lower() != "true" and r.id not in ids[:5])
    env.sb.edit({retag: {"Employees": 90_000}})  # retagged, so the run writes
    gone = ids[:2]
    env.delete_in_crm(gone)
    env.sb.inject({"kind": "expired_session", "endpoint": "update", "count": 2})  # refused after a renewal: fatal
    failed = env.sync()
    assert failed.returncode != 0 and "INVALID_TOKEN" in failed.stdout + failed.stderr
    runs = env.runs()
    assert runs[-1].status == "failed"
    assert not env.present() & set(gone)  # they left in the read, before the write failed

    env.sb.clear_faults()
    env.sb.reset_stats()
    rerun = env.sync()
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    last: Any = env.runs()[-1]
    assert last.status == "succeeded" and last.watermark_before == runs[-1].watermark_before  # the same since
    assert env.calls()["deleted"] == 1 and "deleted in the CRM" not in rerun.stdout  # asked again: none left twice
    assert last.counts["written"] == 1 and len(env.present()) == N - 2


def test_a_full_read_of_a_population_past_the_threshold_goes_through_bulk_read(tmp_path):
    env = SyncEnv(tmp_path, "zoho", N, extra_config="bulk_read_threshold = 250\n", bulk_polls=1)
    try:
        first = env.sync()  # nothing known yet: the pages are walked
        assert first.returncode == 0, first.stdout + first.stderr
        calls = env.calls()
        assert calls["records_page"] == 2 and "bulk_read_create" not in calls
        gone = env.sb.ids()[7:9]
        env.delete_in_crm(gone)
        pin = env.sb.mapping.pin_field
        retag = next(r.id for r in env.sb.store.scan() if str(r.data.get(pin)).lower() != "true" and r.id not in gone)
        env.sb.edit({retag: {"Employees": 90_000}})
        env.sb.reset_stats()

        full = env.sync("--full")  # 300 accounts known: one Bulk Read job
        assert full.returncode == 0, full.stdout + full.stderr
        calls = env.calls()
        assert (calls["bulk_read_create"], calls["bulk_read_status"], calls["bulk_read_result"]) == (1, 2, 1)
        assert "records_page" not in calls and "records_token" not in calls and "deleted" not in calls
        run = env.runs()[-1]
        assert (run.mode, run.counts["read"], run.counts["written"]) == ("full", N - 2, 1)
        assert run.counts["api_calls"] == env.sb.stats()["calls"]["total"]
        assert env.sb.stats()["api_usage"]["used"] == 2 + 50 + 2 + 1 + 1  # fields, org; job; polls; download; update
        present = env.present()
        assert len(present) == N - 2 and not present & set(gone)  # the full read's absent accounts left
        store = env.store()
        try:
            assert store.recorded_tags("sandbox", [retag])[retag]["segment"] == "Enterprise"
        finally:
            store.close()
    finally:
        env.close()
