"""``crmseg daemon`` as a real subprocess against the sandbox CRM, with a short interval."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import signal
import time
from collections.abc import Callable

import pytest

from .daemon_proc import DaemonProc
from .sync_env import SyncEnv
from .test_sync_sandbox import _audit_changes

N = 400


@pytest.fixture
def env(tmp_path):
    e = SyncEnv(tmp_path, "salesforce", N)
    text = e.config.read_text().replace('interval = "15m"', 'interval = "1s"')
    e.config.write_text(text.replace("[state]\n", '[state]\nlease = "20s"\n'), encoding="utf-8")
    yield e
    e.close()


def _lease_holder(env: SyncEnv) -> object:
    store = env.store()
    try:
        return store.lease("sandbox")
    finally:
        store.close()


def _wait_until(cond: Callable[[], bool], message: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def _ok_runs(d: DaemonProc) -> list[dict]:
    return [r for r in d.runs() if r["status"] == "succeeded"]


def test_daemon_runs_writes_reloads_good_rules_and_keeps_them_over_broken_ones(env, tmp_path, daemon):
    d = daemon(env.config, env.env(), env.tmp)
    try:
        d.wait_for(lambda e: e.get("event") == "run" and e["status"] == "succeeded", timeout=90, count=2)
        assert _audit_changes(env, tmp_path / "a.csv") == set()  # the CRM holds what the rules say
        first = _ok_runs(d)[0]
        assert first["written"] > 0 and first["run_id"] == 1 and first["mode"] == "full"
        # an edit: the next runs write exactly the accounts it moves
        # (what it moves is audited first on an edited copy: the daemon may apply the edit within a second)
        edited = tmp_path / "edited-rules"
        shutil.copytree(env.rules, edited)
        seg_text = (env.rules / "segment.toml").read_text().replace("employees >= 1000 or", "employees >= 700 or")
        (edited / "segment.toml").write_text(seg_text, encoding="utf-8")
        preview = tmp_path / "preview.toml"
        preview.write_text(env.config.read_text().replace('rules = "rules"', f'rules = "{edited}"'), encoding="utf-8")
        expected = _audit_changes(env, tmp_path / "b.csv", preview)
        assert expected
        (env.rules / "segment.toml").write_text(seg_text, encoding="utf-8")
        d.wait_for(lambda e: e.get("event") == "rules_loaded" and "reloaded" in e["msg"], timeout=60)
        d.wait_for(lambda e: e.get("event") == "run" and e.get("changed") == len(expected), timeout=60)
        assert _audit_changes(env, tmp_path / "c.csv") == set()
        # a broken edit: logged with file and field, the last good rules stay in use
        tier = env.rules / "tier.toml"
        good_tier = tier.read_text()
        tier.write_text(good_tier.replace("icp_score >= 70", "icp_scor >= 70"), encoding="utf-8")
        seen = len(d.runs())
        problem = d.wait_for(lambda e: e.get("event") == "rule_problem", timeout=60)[0]
        assert "tier.toml" in problem["msg"] and "icp_scor" in problem["msg"]
        rejected = d.wait_for(lambda e: e.get("event") == "rules_rejected", timeout=5)[0]
        assert "keeping the rules loaded at" in rejected["msg"]
        d.wait_for(lambda e: e.get("event") == "run", timeout=60, count=seen + 2)
        assert all(r["status"] == "succeeded" and r["changed"] == 0 for r in d.runs()[seen:])
        assert len([e for e in d.events if e.get("event") == "rules_rejected"]) == 1  # logged once, not per run
        # metrics and health on 127.0.0.1
        assert d.metrics_url.startswith("http://127.0.0.1:")
        text = d.get("/metrics").text
        m = re.search(r'crmseg_sync_runs_total\{status="succeeded",sync="sandbox"\} (\d+)', text)
        assert m and int(m.group(1)) >= 4
        assert re.search(r'crmseg_sync_records_total\{stage="written",sync="sandbox"\} (\d+)', text)
        assert 'crmseg_sync_api_remaining{sync="sandbox"}' in text
        assert "crmseg_sync_last_success_timestamp_seconds" in text and "crmseg_sync_run_duration_seconds" in text
        health = d.get("/healthz")  # the broken edit is still there: degraded, naming it
        assert health.status_code == 503 and health.json()["status"] == "degraded" and health.json()["late"] == {}
        assert any("tier.toml" in (p["file"] or "") for p in health.json()["rejected"]["sandbox"]["problems"])
        assert d.stop() == 0
        assert d.events[-1]["event"] == "stopped"
    finally:
        d.kill()
    secrets = {v for v in env.sb.env().values() if len(v) >= 10}  # ("sandbox" is also the sync's name)
    assert secrets and not any(s in line for s in secrets for line in d.raw)  # never a secret in the logs


def test_sigterm_mid_run_finishes_the_batch_records_aborted_and_exits_0(env, tmp_path, daemon):
    env.config.write_text(env.config.read_text() + "batch_size = 20\n", encoding="utf-8")
    env.sb.inject({"kind": "timeout", "endpoint": "composite_update", "after": 3, "delay": 2.0})
    d = daemon(env.config, env.env(), env.tmp, metrics=False)
    try:
        deadline = time.monotonic() + 60
        while env.fired("timeout") == 0:
            assert time.monotonic() < deadline and d.proc.poll() is None
            time.sleep(0.02)
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        assert d.proc.wait(timeout=30) == 0
        assert time.monotonic() - t0 < 15
    finally:
        d.kill()
    run = env.runs()[-1]
    assert run.status == "aborted" and "stopped on request" in (run.message or "")
    assert 0 < run.counts["written"] < run.counts["changed"]  # the held batch was finished and recorded
    store = env.store()
    try:
        assert store.outbox("sandbox") == {} and store.lease("sandbox") is None
    finally:
        store.close()
    res = env.sync()  # the next run converges
    assert res.returncode == 0, res.stdout + res.stderr
    assert _audit_changes(env, tmp_path / "after.csv") == set()
    assert max(env.transitions().values()) == 1


def test_a_second_daemon_skips_the_locked_sync_and_a_manual_sync_names_the_holder(env, daemon):
    env.config.write_text(env.config.read_text() + "batch_size = 10\n", encoding="utf-8")
    env.sb.inject({"kind": "timeout", "endpoint": "composite_update", "count": -1, "delay": 0.3})  # slow runs
    a = daemon(env.config, env.env(), env.tmp, metrics=False)
    b = None
    try:
        a.wait_for(lambda e: e.get("event") == "rules_loaded", timeout=60)
        _wait_until(lambda: _lease_holder(env) is not None, "the first daemon never took the sync's lease")
        b = daemon(env.config, env.env(), env.tmp, metrics=False)
        skip = b.wait_for(lambda e: e.get("event") == "run_skipped", timeout=60)[0]
        assert "already running: locked by" in skip["msg"] and skip["holder"].split(":")[1] == str(a.proc.pid)
        manual = env.sync()
        assert manual.returncode == 3 and "locked by" in manual.stderr and str(a.proc.pid) in manual.stderr
        assert a.stop() == 0 and b.stop() == 0
    finally:
        a.kill()
        if b is not None:
            b.kill()
    runs = env.runs()
    spans = sorted((r.started_at, r.finished_at or "9") for r in runs)
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(spans))  # never two runs at once


def test_healthz_turns_unhealthy_when_runs_fail(env, daemon):
    d = daemon(env.config, env.env(), env.tmp)
    try:
        d.wait_for(lambda e: e.get("event") == "run" and e["status"] == "succeeded", timeout=60)
        assert d.get("/healthz").status_code == 200
        env.sb.configure(daily_limit=0)  # every call now refused: runs fail
        d.wait_for(lambda e: e.get("event") == "run_failed", timeout=60)
        deadline = time.monotonic() + 30
        while d.get("/healthz").status_code == 200:
            assert time.monotonic() < deadline, "healthz never turned unhealthy"
            time.sleep(0.2)
        body = json.loads(d.get("/healthz").text)
        assert body["ok"] is False and "sandbox" in body["late"]
        assert re.search(r'crmseg_sync_runs_total\{status="failed",sync="sandbox"\} [1-9]', d.get("/metrics").text)
        env.sb.configure(daily_limit=1_000_000)
        d.wait_for(lambda e: e.get("event") == "run" and e["status"] == "succeeded", timeout=60, count=2)
        assert d.get("/healthz").status_code == 200
        assert d.stop() == 0
    finally:
        d.kill()
