"""Two ``crmseg daemon`` processes sharing one PostgreSQL state (a real server the tests
start): each sync runs on exactly one of them at a time, and when one dies the other takes
its syncs over within the lease time."""

from __future__ import annotations

import itertools
import shutil
import signal
import time

import pytest

from crmseg.state.postgres import PostgresStore

from .daemon_proc import DaemonProc
from .sync_env import ROOT, SyncEnv, make_static

LEASE_S = 4


@pytest.fixture
def shared(tmp_path, pg_server, pg_url):
    env = SyncEnv(tmp_path, "salesforce", 400)
    files_rules = tmp_path / "file-rules"
    shutil.copytree(ROOT / "rules", files_rules)
    make_static(files_rules)
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "accounts.csv")
    text = env.config.read_text().replace('interval = "15m"', 'interval = "1s"')
    head, _, rest = text.partition("[syncs.sandbox]")
    head = head.split("[state]")[0] + f'[state]\nurl = "{pg_url}"\nlease = "{LEASE_S}s"\n\n'
    files = (
        '\n[syncs.files]\nconnector = "csv"\npath = "accounts.csv"\nrules = "file-rules"\nengine = "native"\n'
        f'mapping = "{ROOT / "connectors" / "csv.toml"}"\ninterval = "1s"\n'
    )
    env.config.write_text(head + "[syncs.sandbox]" + rest + files, encoding="utf-8")
    env.sb.inject({"kind": "timeout", "endpoint": "query", "count": -1, "delay": 0.6})  # every run takes a while
    run_env = env.env(CRMSEG_STATE_PASSWORD=pg_server.password)
    yield env, run_env, (pg_url, pg_server.password)
    env.close()


def _runs(pg: tuple[str, str], sync: str) -> list:
    store = PostgresStore(pg[0], password=pg[1])
    try:
        return store.runs(sync)
    finally:
        store.close()


def _skips(d: DaemonProc) -> int:
    return sum(1 for e in list(d.events) if e.get("event") == "run_skipped" and "already running" in e["msg"])


def _ran(a: DaemonProc, b: DaemonProc, sync: str) -> int:
    return sum(1 for d in (a, b) for e in d.runs() if e["sync"] == sync)


def _assert_no_overlap(runs: list) -> None:
    spans = sorted((r.started_at, r.finished_at or "9999") for r in runs)
    for (s1, e1), (s2, _) in itertools.pairwise(spans):
        assert e1 <= s2, f"two runs at once: one ran {s1}..{e1}, the next started {s2}"


def test_two_daemons_never_run_one_sync_twice_at_once(shared, daemon):
    env, run_env, pg = shared
    a = daemon(env.config, run_env, env.tmp, metrics=False)
    b = daemon(env.config, run_env, env.tmp, metrics=False)
    try:
        deadline = time.monotonic() + 120
        # both schedule every sync each second: they collide, and the lease lets one run (which one
        # may be the same daemon every time, its clock a little ahead); the other skips
        while not (min(_ran(a, b, "sandbox"), _ran(a, b, "files")) >= 2 and _skips(a) + _skips(b) >= 2):
            assert time.monotonic() < deadline, (_ran(a, b, "sandbox"), _ran(a, b, "files"), _skips(a), _skips(b))
            time.sleep(0.2)
        assert a.stop() == 0 and b.stop() == 0
    finally:
        a.kill()
        b.kill()
    for sync in ("sandbox", "files"):
        runs = _runs(pg, sync)
        assert len(runs) >= 2
        _assert_no_overlap(runs)
        assert all(r.status in ("succeeded", "aborted") for r in runs), [(r.id, r.status, r.message) for r in runs]
    holders = {r.holder.split(":")[1] for s in ("sandbox", "files") for r in _runs(pg, s)}
    assert holders and holders <= {str(a.proc.pid), str(b.proc.pid)}  # only these two ran, never one sync at once


def test_killing_one_daemon_hands_its_syncs_to_the_other_within_the_lease(shared, daemon):
    env, run_env, pg = shared
    daemons = {}
    try:
        for _ in range(2):
            d = daemon(env.config, run_env, env.tmp, metrics=False)
            daemons[d.proc.pid] = d
        for d in daemons.values():  # both up and contending for the sandbox sync (one may win every time)
            d.wait_for(lambda e: e.get("event") in ("run", "run_skipped") and e["sync"] == "sandbox", timeout=120)
        # the next sandbox read is held: whichever daemon runs it is mid-run, holding the lease
        env.sb.clear_faults()
        env.sb.inject({"kind": "timeout", "endpoint": "query", "count": 1, "delay": 60})
        deadline = time.monotonic() + 60
        while not any(f["fired"] and f["delay"] == 60 for f in _faults(env)):
            assert time.monotonic() < deadline, "no run reached the held read"
            time.sleep(0.02)
        store = PostgresStore(pg[0], password=pg[1])
        try:
            lease, running = store.lease("sandbox"), store.last_run("sandbox")
        finally:
            store.close()
        assert lease is not None and running.status == "running" and running.holder == lease.holder
        victim = daemons.pop(lease.pid)
        (survivor,) = daemons.values()
        seen = len(survivor.runs())
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=30)
        killed_at = time.monotonic()
        survivor.wait_for(
            lambda e: (
                e.get("event") == "run"
                and e["sync"] == "sandbox"
                and e["status"] == "succeeded"
                and e["run_id"] > running.id
            ),
            timeout=LEASE_S + 30,
        )
        took = time.monotonic() - killed_at
        assert took < LEASE_S + 10, f"takeover took {took:.1f} s"
        assert len(survivor.runs()) > seen
        assert survivor.stop() == 0
    finally:
        for d in [*daemons.values(), *((locals().get("victim") and [victim]) or [])]:
            d.kill()
    runs = _runs(pg, "sandbox")
    _assert_no_overlap([r for r in runs if r.id != running.id])
    killed = next(r for r in runs if r.id == running.id)
    assert killed.status == "aborted" and "ended without recording" in (killed.message or "")
    assert runs[-1].status == "succeeded" and runs[-1].holder.split(":")[1] == str(survivor.proc.pid)


def _faults(env: SyncEnv) -> list[dict]:
    with env.sb.app.faults._lock:
        return [{**f.describe(), "delay": f.delay} for f in env.sb.app.faults.faults]
