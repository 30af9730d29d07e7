"""``crmseg sync`` against the Dynamics 365 sandbox (real HTTP on 127.0.0.1, the real CLI
in-process) reads changes through Dataverse change tracking: the full read stores a delta link,
the next run follows it and reads only what changed, deletions included; a refused (expired)
link falls back to a full read and says so; a table without change tracking, or a sync that
opts out, reads by ``modifiedon``; a run that fails keeps the old link, so the next one reads
the same changes again."""

from __future__ import annotations

import pytest

from .sync_env import SyncEnv

N = 300


@pytest.fixture
def env(tmp_path):
    e = SyncEnv(tmp_path, "dynamics", N)
    yield e
    e.close()


def _not_enterprise(env: SyncEnv, n: int) -> list[str]:
    """``n`` unpinned accounts whose recorded segment is not Enterprise."""
    pin = env.sb.mapping.pin_field
    unpinned = [r.id for r in env.sb.store.scan() if str(r.data.get(pin)).lower() != "true"]
    tags = env.recorded_tags(unpinned)
    return [rid for rid in unpinned if tags.get(rid, {}).get("segment") != "Enterprise"][:n]


def test_an_incremental_sync_reads_only_the_changes_and_handles_deletions(env):
    first = env.sync()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "full read" in first.stdout
    assert env.sync_state().delta_link and "$deltatoken=" in env.sync_state().delta_link
    again = env.sync()  # reads back the first run's own writes, once, and writes nothing
    assert again.returncode == 0 and env.runs()[-1].counts["written"] == 0
    link = env.sync_state().delta_link
    env.sb.reset_stats()

    grows, touched, gone = _not_enterprise(env, 4)[:1], env.sb.ids()[100:102], _not_enterprise(env, 4)[3:]
    env.sb.edit({grows[0]: {"numberofemployees": 50_000}}, touch=touched)  # 3 accounts changed, 1 of them retagged
    env.sb.edit({gone[0]: {"numberofemployees": 50_000}})  # would be retagged too, but it is deleted next
    env.delete_in_crm(gone)
    history = sum(1 for t in env.transitions() if t[0] == env.seed_of[gone[0]])
    second = env.sync()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "incremental read" in second.stdout
    assert "deleted in the CRM: 1 account(s), out of the population now" in second.stdout

    calls = env.calls()
    assert calls["accounts_delta"] == 1 and "accounts_query" not in calls and "accounts_next" not in calls
    run = env.runs()[-1]
    assert (run.mode, run.counts["read"], run.counts["evaluated"]) == ("incremental", 3, 3)
    assert run.counts["changed"] == run.counts["written"] == 1 == env.sb.stats()["records_written"]
    assert env.sb.stats()["records_failed"] == 0  # the deleted account was never written
    assert env.recorded_tags(grows)[grows[0]]["segment"] == "Enterprise"
    enterprise = env.sb.schema[env.tag_fields["segment"]].extra["options"]["Enterprise"]
    assert env.sb.record(grows[0])[env.tag_fields["segment"]] == enterprise

    present = env.present()
    assert len(present) == N - 1 and gone[0] not in present
    assert sum(1 for t in env.transitions() if t[0] == env.seed_of[gone[0]]) == history  # its history stays
    store = env.store()
    try:
        snap = store.snapshots("sandbox", [run.id])[run.id]
        assert sum(snap["segment"].values()) == N - 1
    finally:
        store.close()
    new_link = env.sync_state().delta_link
    assert new_link and new_link != link

    env.sb.reset_stats()
    third = env.sync()  # reads back its own write once, through the new link
    assert third.returncode == 0 and env.calls()["accounts_delta"] == 1
    assert env.runs()[-1].counts["read"] == 1 and env.runs()[-1].counts["changed"] == 0


def test_an_expired_delta_link_falls_back_to_a_full_read_and_says_so(env):
    assert env.sync().returncode == 0
    link = env.sync_state().delta_link
    env.sb.configure(delta_token_days=0)  # every link handed out so far is now too old
    gone = env.sb.ids()[:1]
    env.delete_in_crm(gone)
    env.sb.reset_stats()
    res = env.sync()
    assert res.returncode == 0, res.stdout + res.stderr
    said = "change tracking: the CRM refused the stored delta link, so every account was read"
    assert said in res.stderr  # the run's log
    assert said in res.stdout and "0x80044352" in res.stdout  # the run summary
    run = env.runs()[-1]
    assert run.mode == "full" and said in (run.message or "") and run.counts["read"] == N - 1
    calls = env.calls()
    assert calls["accounts_delta"] == 1 and calls["accounts_query"] == 1
    assert env.present() == set(env.sb.ids()) - set(gone)  # the full read's absent accounts left
    new_link = env.sync_state().delta_link
    assert new_link and new_link != link

    env.sb.configure(delta_token_days=7)
    env.sb.reset_stats()
    assert env.sync().returncode == 0
    assert env.runs()[-1].mode == "incremental" and "accounts_query" not in env.calls()


@pytest.mark.parametrize("why", ["table", "config"])
def test_without_change_tracking_the_sync_reads_by_modifiedon(tmp_path, why):
    if why == "table":
        env = SyncEnv(tmp_path, "dynamics", 50, change_tracking=False)
    else:
        env = SyncEnv(tmp_path, "dynamics", 50, extra_config="change_tracking = false\n")
    try:
        assert env.sync().returncode == 0
        assert env.sync_state().delta_link is None
        env.sb.edit(touch=env.sb.ids()[:2])
        env.sb.reset_stats()
        res = env.sync()
        assert res.returncode == 0 and "incremental read" in res.stdout
        calls = env.calls()
        assert calls["accounts_query"] == 1 and "accounts_delta" not in calls
        assert env.runs()[-1].counts["read"] >= 2 and env.sync_state().delta_link is None
    finally:
        env.close()


def test_a_failed_run_keeps_the_old_link_and_the_next_reads_the_same_changes(env):
    assert env.sync().returncode == 0
    link = env.sync_state().delta_link
    grows = _not_enterprise(env, 1)
    env.sb.edit({grows[0]: {"numberofemployees": 50_000}})
    env.sb.inject({"kind": "503", "endpoint": "batch", "count": -1, "retry_after": 0})
    failed = env.sync()
    assert failed.returncode != 0 and env.runs()[-1].status == "failed"
    assert env.sync_state().delta_link == link  # stored only once a run's writes are recorded
    env.sb.clear_faults()
    env.sb.reset_stats()
    res = env.sync()
    assert res.returncode == 0, res.stdout + res.stderr
    run = env.runs()[-1]
    assert run.mode == "incremental" and env.calls()["accounts_delta"] == 1
    assert run.counts["written"] == 1 and env.recorded_tags(grows)[grows[0]]["segment"] == "Enterprise"
    assert max(env.transitions().values()) == 1  # nothing logged twice
    assert env.sync_state().delta_link not in (None, link)
