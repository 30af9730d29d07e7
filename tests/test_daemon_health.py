"""The daemon's health, fast: a rejected edit's problems (file, line, reason), the ``/healthz``
body, the ``status`` next run from the daemons' schedule rows, the retry wait a stop request
cuts short, and runs that fail before reading recorded by the one sync service."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from crmseg.config import load_config
from crmseg.connectors.retry import Op, RetryPolicy
from crmseg.daemon import reload as reload_mod
from crmseg.daemon.health import Health, Problem, RejectedEdit, next_run, parse_problem
from crmseg.daemon.metrics import Metrics
from crmseg.daemon.reload import GoodRules, RuleGuard
from crmseg.errors import CrmsegError, RetriableError, StopRequested
from crmseg.state.sqlite import SqliteStore
from crmseg.state.store import RuleStatus, ScheduleEntry
from crmseg.sync.service import NOT_READ, SyncService

from .cli_run import crmseg
from .connector_fixtures import no_wait_policy
from .state_backends import backend_params, open_backend
from .sync_env import ROOT

NOW = "2026-12-01T10:00:00.000000Z"


# ---------------------------------------------------------------- problems: file, line, reason
def test_a_rule_problem_points_at_the_line_of_the_rules_key(tmp_path):
    tier = tmp_path / "tier.toml"
    shutil.copy(ROOT / "rules" / "tier.toml", tier)
    text = f"{tier}: rule \"tier-2\" (when, col 1): unknown field 'icp_scor' — did you mean 'icp_score'?"
    p = parse_problem(text)
    lines = tier.read_text().splitlines()
    assert p.file == str(tier) and p.line is not None
    assert lines[p.line - 1].lstrip().startswith("when") and "icp_score >= 50" in lines[p.line - 1]
    assert p.reason.startswith('rule "tier-2"') and "unknown field 'icp_scor'" in p.reason
    assert str(p) == f"{tier}:{p.line}: {p.reason}"


def test_toml_errors_keep_their_line_and_unplaced_problems_keep_their_text():
    toml = parse_problem("/r/bad.toml: invalid TOML: Expected ']]' at the end (at line 2, column 7)")
    assert (toml.file, toml.line) == ("/r/bad.toml", 2)
    test = parse_problem("/r/gone.toml: test \"hot\": expected 'A', got 'B'", read=lambda path: None)
    assert (test.file, test.line) == ("/r/gone.toml", None) and test.reason.startswith('test "hot"')
    bare = parse_problem("syncs.x.mapping is required for connector 'salesforce'")
    assert (bare.file, bare.line, bare.reason) == (None, None, "syncs.x.mapping is required for connector 'salesforce'")


# ---------------------------------------------------------------- /healthz
def _edit(sync: str = "crm") -> RejectedEdit:
    return RejectedEdit(
        sync, "bad1", NOW, "/r", (Problem("/r/tier.toml", 10, "unknown field 'icp_scor'"),), "good1", "2026-11-30"
    )


def test_healthz_is_ok_without_reasons_and_degraded_with_a_rejected_edit_or_a_late_sync():
    ok, body = Health(live={"crm": {"fingerprint": "good1", "since": "x"}}).body()
    assert ok and body["status"] == "ok" and body["reasons"] == [] and body["rules"]["crm"]["fingerprint"] == "good1"
    ok, body = Health(rejected={"crm": _edit()}).body()
    assert not ok and body["ok"] is False and body["status"] == "degraded"
    assert body["rejected"]["crm"]["problems"] == [
        {"file": "/r/tier.toml", "line": 10, "reason": "unknown field 'icp_scor'"}
    ]
    assert body["rejected"]["crm"]["kept_fingerprint"] == "good1"
    reason = "sync crm: rule edit rejected, running the rules loaded at 2026-11-30: "
    assert body["reasons"] == [reason + "/r/tier.toml:10: unknown field 'icp_scor'"]
    ok, body = Health(late={"crm": {"last_success": None, "seconds_since": 700.0, "limit_s": 600.0}}).body()
    assert not ok and body["late"]["crm"]["limit_s"] == 600.0 and "no successful run for 700s" in body["reasons"][0]


def test_metrics_show_the_rejected_edit_until_a_version_goes_live():
    from prometheus_client import generate_latest

    m = Metrics()
    m.rules_live("crm", "good1", "2026-11-30T08:00:00+00:00")
    assert m.health()[0]
    m.edit_rejected(_edit())
    text = generate_latest(m.registry).decode()
    assert 'crmseg_rules_rejected{sync="crm"} 1.0' in text
    assert 'crmseg_rules_info{fingerprint="good1",since="2026-11-30T08:00:00+00:00",sync="crm"} 1.0' in text
    assert not m.health()[0] and m.rejected_edit("crm") is not None
    m.rules_live("crm", "good2", "2026-12-01T08:00:00+00:00")
    text = generate_latest(m.registry).decode()
    assert 'crmseg_rules_rejected{sync="crm"} 0.0' in text and 'fingerprint="good2"' in text
    assert m.health() == (True, m.health()[1]) and m.health()[1]["status"] == "ok"


# ---------------------------------------------------------------- status: next run
def _row(holder: str, next_run: str | None, expires: str) -> ScheduleEntry:
    return ScheduleEntry("crm", holder, "host-a", 42, next_run, expires)


def test_next_run_only_from_a_daemons_schedule_row_that_has_not_expired():
    assert next_run(True, [], NOW).at is None and next_run(True, [], NOW).reason == "no daemon running"
    assert next_run(False, [], NOW).reason == "no interval or cron in the config"
    stale = next_run(True, [_row("a", "2026-12-01T10:00:30Z", "2026-12-01T09:59:59.000000Z")], NOW)
    assert stale.at is None and stale.reason is not None and stale.reason.startswith("no daemon running")
    fresh = next_run(
        True,
        [
            _row("a", "2026-12-01T10:15:00+00:00", "2026-12-01T10:00:20.000000Z"),
            _row("b", "2026-12-01T10:05:00+00:00", "2026-12-01T10:00:25.000000Z"),
            _row("c", "2026-12-01T10:01:00+00:00", "2026-12-01T09:00:00.000000Z"),  # gone: not counted
        ],
        NOW,
    )
    assert fresh.at == "2026-12-01T10:05:00+00:00" and fresh.reason is None
    assert fresh.daemon is not None and fresh.daemon["holder"] == "b" and fresh.daemon["pid"] == 42


@pytest.mark.parametrize("backend", backend_params())
def test_the_state_store_keeps_schedules_and_rule_status(backend, tmp_path, request):
    store = open_backend(backend, tmp_path, request)
    try:
        store.beat_schedule("d1", "host-a", 7, {"crm": "2026-12-01T10:05:00+00:00", "files": None}, 30.0)
        (row,) = store.schedules("crm")
        assert (row.holder, row.host, row.pid, row.next_run) == ("d1", "host-a", 7, "2026-12-01T10:05:00+00:00")
        assert row.expires_at > store.now()
        store.beat_schedule("d1", "host-a", 7, {"crm": "2026-12-01T10:20:00+00:00"}, 30.0)  # replaces its rows
        assert [r.next_run for r in store.schedules("crm")] == ["2026-12-01T10:20:00+00:00"]
        assert store.schedules("files") == []
        store.drop_schedule("d1")
        assert store.schedules("crm") == []
        problems = [{"file": "/r/tier.toml", "line": 10, "reason": "bad"}]
        store.put_rule_status(RuleStatus("crm", "good1", "t0", "bad1", "t1", problems, "d1"))
        got = store.rule_status("crm")
        assert got is not None and got.problems == problems
        assert (got.fingerprint, got.rejected_fingerprint) == ("good1", "bad1")
        store.put_rule_status(RuleStatus("crm", "good2", "t2", reporter="d1"))
        got = store.rule_status("crm")
        assert got is not None and got.rejected_fingerprint is None and got.problems == [] and got.updated_at
    finally:
        store.close()


# ---------------------------------------------------------------- the interruptible wait
def test_a_stop_request_ends_a_long_retry_wait_at_once():
    stop = threading.Event()
    policy = RetryPolicy(stop=stop)
    calls = []

    def refused() -> None:
        calls.append(time.monotonic())
        raise RetriableError("salesforce Account query: HTTP 503", retry_after=30.0)

    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(StopRequested, match="stopped on request while waiting"):
        policy.run(refused, Op("salesforce", "Account", "query"))
    # the 30 s Retry-After was cut short, not retried (10 s: far below 30, above a loaded CI worker's pause)
    assert time.monotonic() - t0 < 10 and len(calls) == 1
    with pytest.raises(StopRequested):
        policy.pause(0)  # once stopped, no wait (nor call) starts


def test_an_injected_sleep_still_sees_the_stop_event():
    stop = threading.Event()
    policy = no_wait_policy()
    policy.stop = stop
    policy.pause(5.0)
    assert policy.sleep is not None and policy.sleep.calls == [5.0]
    stop.set()
    with pytest.raises(StopRequested):
        policy.pause(5.0)
    assert policy.sleep.calls == [5.0]


# ---------------------------------------------------------------- the rule guard tells its listener
class Listener:
    def __init__(self) -> None:
        self.live: list[str] = []
        self.rejected: list[RejectedEdit] = []

    def rules_live(self, sync: str, good: GoodRules) -> None:
        self.live.append(good.fingerprint)

    def rules_rejected(self, edit: RejectedEdit) -> None:
        self.rejected.append(edit)


def test_the_guard_reports_a_rejected_edit_once_with_its_line_and_a_revert_ends_it(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(reload_mod, "SETTLE_S", 0.2)
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "accounts.csv")
    (tmp_path / "config.toml").write_text(
        '[state]\npath = "state.db"\n\n[syncs.files]\nconnector = "csv"\npath = "accounts.csv"\nrules = "rules"\n'
        f'mapping = "{ROOT / "connectors" / "csv.toml"}"\n',
        encoding="utf-8",
    )
    old = time.time() - 3600
    for path in rules.glob("*.toml"):
        os.utime(path, (old, old))
    cfg = load_config(tmp_path / "config.toml")
    sync = cfg.syncs["files"]
    listener = Listener()
    guard = RuleGuard(listener)
    caplog.set_level(logging.INFO, logger="crmseg.daemon")
    first = guard.current(cfg, sync)
    assert first is not None and listener.live == [first.fingerprint]
    tier = rules / "tier.toml"
    good_text = tier.read_text()
    tier.write_text(good_text.replace("icp_score >= 70", "icp_scor >= 70"), encoding="utf-8")
    os.utime(tier, (old, old))
    for _ in range(3):
        assert guard.current(cfg, sync) is first
    (edit,) = listener.rejected
    assert edit.kept_fingerprint == first.fingerprint and edit.fingerprint != first.fingerprint
    (problem,) = [p for p in edit.problems if "icp_scor" in p.reason]
    assert problem.file == str(tier) and problem.line == 10  # `when = "icp_scor >= 70"` of rule tier-1
    tier.write_text(good_text, encoding="utf-8")  # the edit reverted: the live version again
    os.utime(tier, (old, old))
    assert guard.current(cfg, sync) is first
    assert listener.live == [first.fingerprint, first.fingerprint]
    assert [r for r in caplog.records if getattr(r, "event", None) == "rules_restored"]


# ---------------------------------------------------------------- runs that fail before reading
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unreachable_config(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    config = tmp_path / "config.toml"
    config.write_text(
        '[state]\npath = "state.db"\n\n[syncs.crm]\nconnector = "salesforce"\n'
        f'mapping = "{ROOT / "connectors" / "salesforce.toml"}"\nrules = "rules"\ninterval = "15m"\n'
        f'instance_url = "http://127.0.0.1:{_closed_port()}"\nauth = "client_credentials"\n'
        'consumer_key_env = "SF_CONSUMER_KEY"\nconsumer_secret_env = "SF_CONSUMER_SECRET"\n',
        encoding="utf-8",
    )
    return config


SF_ENV = {"SF_CONSUMER_KEY": "key-for-tests-123", "SF_CONSUMER_SECRET": "secret-for-tests-456"}


def test_an_unreachable_crm_is_a_recorded_failed_run_and_status_shows_it(tmp_path):
    config = _unreachable_config(tmp_path)
    service = SyncService(load_config(config), env=SF_ENV, policy=no_wait_policy())
    for _ in range(2):
        with pytest.raises(CrmsegError) as caught:
            service.plan("crm")
        assert caught.value.exit_code == 4
    store = SqliteStore(tmp_path / "state.db")
    try:
        runs = store.runs("crm")
    finally:
        store.close()
    assert [(r.status, r.mode) for r in runs] == [("failed", NOT_READ)] * 2
    assert runs[-1].message and "cannot reach 127.0.0.1:" in runs[-1].message and "gave up after" in runs[-1].message
    assert runs[-1].finished_at and runs[-1].counts["read"] == 0
    assert not any(s in (r.message or "") for r in runs for s in SF_ENV.values())
    res = crmseg("status", "--config", str(config), "--json")
    assert res.returncode == 0, res.stderr
    crm = json.loads(res.stdout)["syncs"]["crm"]
    assert crm["last_run"]["status"] == "failed" and crm["last_run"]["id"] == runs[-1].id
    assert crm["next_run"] is None and crm["next_run_reason"] == "no daemon running" and crm["scheduled_by"] is None
    assert crm["rules"] is None  # no daemon ever reported its rules
    text = crmseg("status", "--config", str(config))
    assert "failed" in text.stdout and "nothing read" in text.stdout and "next run - (no daemon running)" in text.stdout


def test_a_stop_request_during_the_login_retry_records_an_aborted_run(tmp_path):
    config = _unreachable_config(tmp_path)
    stop = threading.Event()
    stop.set()
    service = SyncService(load_config(config), env=SF_ENV)  # the real wait: cut short by the stop event
    with pytest.raises(StopRequested):  # raised by the first retry wait, which the set event ends at once
        service.plan("crm", stop=stop)
    store = SqliteStore(tmp_path / "state.db")
    try:
        (run,) = store.runs("crm")
    finally:
        store.close()
    assert run.status == "aborted" and "stopped on request" in (run.message or "")
