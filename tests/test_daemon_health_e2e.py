"""The daemon's health tells the truth, as a real ``crmseg daemon`` subprocess: a broken rule
edit turns ``/healthz`` degraded and shows in ``status --json`` until it is fixed; runs that
cannot reach the CRM are recorded as failed runs; SIGTERM during a retry wait exits at once;
``status`` shows a next run only while a daemon holds the schedule."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .cli_run import crmseg, process_env
from .sync_env import ROOT, SyncEnv


@pytest.fixture
def env(tmp_path):
    e = SyncEnv(tmp_path, "salesforce", 200)
    e.config.write_text(e.config.read_text().replace('interval = "15m"', 'interval = "1s"'), encoding="utf-8")
    yield e
    e.close()


def _status(config: Path, cwd: Path) -> dict[str, Any]:
    res = crmseg("status", "--config", str(config), "--json", cwd=cwd)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout)["syncs"]


def _wait_until(cond: Callable[[], Any], message: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def test_a_broken_rule_edit_degrades_healthz_and_shows_in_status_until_it_is_fixed(env, daemon):
    d = daemon(env.config, env.env(), env.tmp)
    try:
        d.wait_for(lambda e: e.get("event") == "run" and e["status"] == "succeeded", timeout=90)
        assert d.get("/healthz").status_code == 200 and d.get("/healthz").json()["status"] == "ok"
        live = _status(env.config, env.tmp)["sandbox"]
        assert live["rules"]["rejected"] is None and live["rules"]["reporter_running"] is True
        fingerprint = live["rules"]["live"]["fingerprint"]
        assert fingerprint and live["next_run"] and live["scheduled_by"]["pid"] == d.proc.pid
        # a broken edit: health degraded, a metric, and status names file, line and reason
        tier = env.rules / "tier.toml"
        good = tier.read_text()
        tier.write_text(good.replace("icp_score >= 70", "icp_scor >= 70"), encoding="utf-8")
        d.wait_for(lambda e: e.get("event") == "rules_rejected", timeout=60)
        body = _wait_until(  # (a 503 Response is falsy: its body is what the wait returns)
            lambda: (r := d.get("/healthz")).status_code == 503 and r.json(), "healthz never degraded"
        )
        assert body["ok"] is False and body["status"] == "degraded" and body["late"] == {}
        (problem,) = [p for p in body["rejected"]["sandbox"]["problems"] if "icp_scor" in p["reason"]]
        lines = tier.read_text().splitlines()
        assert problem["file"] == str(tier) and "icp_scor >= 70" in lines[problem["line"] - 1]
        assert body["rejected"]["sandbox"]["kept_fingerprint"] == fingerprint
        assert any("rule edit rejected" in r and "tier.toml" in r for r in body["reasons"])
        assert re.search(r'crmseg_rules_rejected\{sync="sandbox"\} 1\.0', d.get("/metrics").text)
        rules = _wait_until(
            lambda: (r := _status(env.config, env.tmp)["sandbox"]["rules"])["rejected"] and r,
            "status never showed the rejected edit",
        )
        assert rules["live"]["fingerprint"] == fingerprint and rules["rejected"]["fingerprint"] != fingerprint
        assert problem in rules["rejected"]["problems"]
        text = crmseg("status", "--config", str(env.config), cwd=env.tmp).stdout
        assert "rule edit rejected" in text and f"{tier}:{problem['line']}: " in text
        # fixed: health back to ok, status without the rejected edit
        tier.write_text(good, encoding="utf-8")
        _wait_until(lambda: d.get("/healthz").status_code == 200, "healthz never turned ok again")
        assert re.search(r'crmseg_rules_rejected\{sync="sandbox"\} 0\.0', d.get("/metrics").text)
        rules = _wait_until(
            lambda: (r := _status(env.config, env.tmp)["sandbox"]["rules"])["rejected"] is None and r,
            "status kept the rejected edit after the fix",
        )
        assert rules["live"]["fingerprint"] == fingerprint
        assert d.stop() == 0
    finally:
        d.kill()
    gone = _status(env.config, env.tmp)["sandbox"]  # the daemon dropped its schedule when it stopped
    assert gone["next_run"] is None and gone["next_run_reason"] == "no daemon running"
    assert gone["rules"]["reporter_running"] is False


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_crm_gives_recorded_failed_runs_in_status(tmp_path, daemon):
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    config = tmp_path / "config.toml"
    config.write_text(
        '[state]\npath = "state.db"\n\n[syncs.crm]\nconnector = "salesforce"\n'
        f'mapping = "{ROOT / "connectors" / "salesforce.toml"}"\nrules = "rules"\ninterval = "1s"\n'
        f'instance_url = "http://127.0.0.1:{_closed_port()}"\nauth = "client_credentials"\n'
        'consumer_key_env = "SF_CONSUMER_KEY"\nconsumer_secret_env = "SF_CONSUMER_SECRET"\n',
        encoding="utf-8",
    )
    secrets = {"SF_CONSUMER_KEY": "key-for-daemon-tests", "SF_CONSUMER_SECRET": "secret-for-daemon-tests"}
    d = daemon(config, process_env(secrets), tmp_path, metrics=False)
    try:
        d.wait_for(lambda e: e.get("event") == "run_failed", timeout=120, count=2)
        syncs = _status(config, tmp_path)
        crm = syncs["crm"]
        assert crm["last_run"] is not None and crm["last_run"]["status"] == "failed"
        assert (
            "cannot reach 127.0.0.1:" in crm["last_run"]["message"]
            and "connection refused" in crm["last_run"]["message"]
        )
        assert crm["next_run"] is not None and crm["scheduled_by"]["pid"] == d.proc.pid
        text = crmseg("status", "--config", str(config), cwd=tmp_path).stdout
        assert "never run" not in text and "failed" in text and "nothing read" in text
        assert d.stop() == 0
    finally:
        d.kill()
    from crmseg.state.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "state.db")
    try:
        runs = store.runs("crm")
    finally:
        store.close()
    failed = [r for r in runs if r.status == "failed"]
    assert len(failed) >= 2 and all(r.mode == "none" and r.finished_at for r in failed)
    assert not any(s in (r.message or "") for r in runs for s in secrets.values())


def test_sigterm_during_a_retry_wait_exits_within_two_seconds(env, daemon):
    env.sb.inject({"kind": "503", "endpoint": "query", "count": -1, "retry_after": 30})
    d = daemon(env.config, env.env(), env.tmp, metrics=False)
    try:
        d.wait_for(lambda e: "retry 1/" in e.get("msg", "") and "in 30.0s" in e.get("msg", ""), timeout=90)
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        code = d.proc.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        d.kill()
    print(f"SIGTERM during a 30 s Retry-After wait: exited {code} after {took:.2f} s")
    assert code == 0 and took < 2.0
    last = env.runs()[-1]
    assert last.status == "aborted" and "stopped on request while waiting" in (last.message or "")
