"""Alerts (``[alerts]``): the URL policy, the payloads (crmseg's JSON event, Slack's
incoming-webhook message), and delivery end to end — a real HTTP server on 127.0.0.1 receives
what ``crmseg sync`` sends on a tripped change guard, a failed run and a drift alert, and a
webhook nobody answers costs a warning, never the sync."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmseg.alerts import AlertEvent, Alerts, rules_rejected, run_events, send_alert
from crmseg.alerts.formats import FIELDS_MAX, HEADER_MAX, slack_payload
from crmseg.alerts.webhook import check_webhook_url, where
from crmseg.config import load_config
from crmseg.config.alerts import ALERT_EVENTS, AlertsConfig
from crmseg.daemon import reload as reload_mod
from crmseg.daemon.reload import RuleGuard
from crmseg.errors import ConfigError

from .cli_run import ROOT, crmseg, process_env
from .sync_env import SyncEnv
from .webhook_server import WebhookServer

TOKEN = "s3cr3tT0k3nXYZ"
PATH = f"/services/T0001/B0002/{TOKEN}"
ENV = "CRMSEG_WEBHOOK_URL"


@pytest.fixture
def hook() -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        yield server


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A loopback URL nothing listens on: the port stays bound (so nobody else takes it), never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}"
    finally:
        sock.close()


def _no_secret(where: Path, *texts: str) -> None:
    """The token is in no output and in no file the run left (state, changes file, config)."""
    for text in texts:
        assert TOKEN not in text
    for path in where.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


# ---------------------------------------------------------------- the URL policy
@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T/B/X",
        "https://example.com:8443/hook?team=1",
        "http://127.0.0.1:9000/hook",
        "http://127.8.9.10/hook",
        "http://localhost/hook",
        "http://[::1]:9000/hook",
    ],
)
def test_https_and_loopback_http_are_accepted(url):
    assert check_webhook_url(url, ENV) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (f"http://hooks.example.com{PATH}", "plain http:// to hooks.example.com"),
        (f"http://10.0.0.5{PATH}", "plain http:// to 10.0.0.5"),
        (f"ftp://example.com{PATH}", "not an http(s) URL"),
        (f"hooks.slack.com{PATH}", "not an http(s) URL"),
        (f"https://exa mple.com{PATH}", "not an http(s) URL"),
        (f"https://[::1{PATH}", "not a URL"),
    ],
)
def test_other_urls_are_a_config_error_naming_the_variable_never_the_url(url, why):
    with pytest.raises(ConfigError) as err:
        check_webhook_url(url, ENV)
    assert f"${ENV}" in str(err.value) and why in str(err.value)
    assert TOKEN not in str(err.value) and err.value.exit_code == 2


def test_an_unset_variable_is_a_config_error_and_no_table_means_no_alerts():
    assert Alerts.from_config(None, {}) is None
    with pytest.raises(ConfigError, match=rf"\${ENV}, which is not set"):
        Alerts.from_config(AlertsConfig(), {})
    alerts = Alerts.from_config(AlertsConfig(), {ENV: f"https://hooks.slack.com:443{PATH}"})
    assert alerts is not None and alerts.where == "https://hooks.slack.com:443"
    assert where(f"http://[::1]:81{PATH}?k={TOKEN}") == "http://[::1]:81"


def test_the_alerts_table_errors_name_the_key_and_the_allowed_values(tmp_path):
    base = '[syncs.a]\nconnector = "csv"\npath = "a.csv"\n'
    cases = {
        'format = "teams"': "alerts.format: Input should be 'json' or 'slack'",
        'events = ["run_failed", "oops"]': "alerts.events.1: Input should be 'run_failed', 'run_aborted'",
        "events = []": "alerts.events: ",
        "timeout_s = 0": "alerts.timeout_s: must be greater than 0",
        'webhok_url_env = "X"': "alerts.webhok_url_env: unknown key — did you mean 'webhook_url_env'?",
        'colour = "red"': "alerts.colour: unknown key (allowed: webhook_url_env, format, events, timeout_s)",
        f'webhook_url_env = "https://hooks.slack.com{PATH}"': "alerts.webhook_url_env: must name an environment",
    }
    for line, expected in cases.items():
        path = tmp_path / "config.toml"
        path.write_text(f"[alerts]\n{line}\n{base}", encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            load_config(path)
        assert expected in str(err.value), (line, str(err.value))
        assert TOKEN not in str(err.value)
    path.write_text(f'[alerts]\nformat = "slack"\nevents = ["guard_tripped"]\n{base}', encoding="utf-8")
    cfg = load_config(path).alerts
    assert cfg is not None and (cfg.format, cfg.events, cfg.webhook_url_env) == ("slack", ("guard_tripped",), ENV)


# ---------------------------------------------------------------- events and payloads (pure)
GUARD = {
    "max_changes": "5%",
    "source": "max_changes",
    "would_change": 61,
    "accounts": 200,
    "allowed": 10,
    "tripped": True,
    "message": "would change 61 of 200 accounts (30%), over max_changes = 5%",
}
COUNTS = {"read": 200, "evaluated": 200, "changed": 61, "written": 0, "failed": 0, "pinned": 3}


def test_a_run_raises_the_events_its_ending_calls_for():
    def names(status, **kw):
        return [e.event for e in run_events("s", 7, status, "msg", COUNTS, **kw)]

    assert names("succeeded") == [] and names("partial") == []
    assert names("failed") == ["run_failed"]
    assert names("aborted") == ["run_aborted"]
    assert names("aborted", guard=GUARD) == ["guard_tripped"]  # not also run_aborted
    assert names("succeeded", drift="segment PSI 0.300 (large)") == ["drift_alert"]
    assert names("failed", drift="x") == ["run_failed", "drift_alert"]


def test_the_json_event_has_the_documented_keys():
    (event,) = run_events("accounts", 12, "aborted", GUARD["message"], COUNTS, guard=GUARD)
    body = event.to_json()
    assert list(body) == ["event", "sync", "run_id", "status", "message", "counts", "at", "guard"]
    assert (body["event"], body["sync"], body["run_id"], body["status"]) == ("guard_tripped", "accounts", 12, "aborted")
    assert body["counts"] == COUNTS and body["guard"] == GUARD and body["at"].endswith("Z")
    json.dumps(body)  # plain JSON
    rejected = rules_rejected("accounts", "rules", ["tier.toml:3: unknown field 'icp_scor'"], "keeping the rules")
    body = rejected.to_json()
    assert body["run_id"] is None and body["problems"] == ["tier.toml:3: unknown field 'icp_scor'"]
    assert body["rules"] == "rules" and "do not pass check; keeping the rules" in body["message"]


def test_the_slack_message_has_text_and_blocks_within_slacks_limits():
    (event,) = run_events("accounts", 12, "aborted", GUARD["message"], COUNTS, guard=GUARD)
    msg = slack_payload(event)
    assert set(msg) == {"text", "blocks"}
    assert msg["text"].startswith("crmseg: Change guard tripped: nothing was written (sync accounts): would change 61")
    header, message, facts, context = msg["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "crmseg: " + event.title + " (sync accounts)"},
    }
    assert message["type"] == "section" and message["text"]["type"] == "mrkdwn"
    labels = [f["text"].split("\n")[0] for f in facts["fields"]]
    assert labels == [
        "*Run*",
        "*Would change*",
        "*Allowed*",
        "*Read*",
        "*Evaluated*",
        "*Changed*",
        "*Written*",
        "*Failed*",
    ]
    assert "61 of 200 accounts" in facts["fields"][1]["text"] and "max_changes = 5%" in facts["fields"][2]["text"]
    assert context["type"] == "context" and context["elements"][0]["text"].startswith("guard_tripped · ")


def test_slack_text_is_escaped_and_cut_to_the_block_limits():
    many = [f"rule{i}.toml:1: <!channel> & broken" for i in range(25)]
    event = AlertEvent(
        "rules_rejected",
        "x" * 300,
        "<!channel> " + "y" * 5000,
        run_id=1,
        status="failed",
        counts=dict.fromkeys("abcdefghijklmnop", 1),
        details={"problems": many},
    )
    msg = slack_payload(event)
    header, message, *rest = msg["blocks"]
    assert len(header["text"]["text"]) <= HEADER_MAX
    assert len(message["text"]["text"]) <= 3000 and message["text"]["text"].startswith("&lt;!channel&gt; ")
    problems = rest[-2]["text"]["text"]
    assert "&lt;!channel&gt; &amp; broken" in problems and "… and 15 more" in problems
    assert "<!channel>" not in json.dumps(msg)
    event = AlertEvent(
        "run_failed",
        "s",
        "m",
        run_id=1,
        status="failed",
        counts=dict.fromkeys(("read", "evaluated", "changed", "written", "failed"), 1),
        details={"guard": GUARD},
    )
    fields = slack_payload(event)["blocks"][2]["fields"]
    assert len(fields) <= FIELDS_MAX


def test_the_events_filter_sends_only_the_events_listed(hook):
    alerts = Alerts(AlertsConfig(events=("drift_alert",)), hook.url(PATH))
    (failed,) = run_events("s", 1, "failed", "boom", COUNTS)
    assert alerts.send(failed) is False and hook.received == []
    (drift,) = run_events("s", 1, "succeeded", None, COUNTS, drift="segment PSI 0.4")
    assert alerts.send(drift) is True
    ((path, ctype, body),) = hook.received
    assert path == PATH and ctype == "application/json" and body["event"] == "drift_alert"
    assert set(ALERT_EVENTS) == {
        "run_failed",
        "run_aborted",
        "guard_tripped",
        "drift_alert",
        "rules_rejected",
        "review_alert",
    }


def test_a_5xx_is_retried_once_and_a_second_one_is_a_warning(hook, caplog):
    caplog.set_level(logging.INFO, logger="crmseg.alerts")
    alerts = Alerts(AlertsConfig(), hook.url(PATH))
    (event,) = run_events("s", 1, "failed", "boom", COUNTS)
    hook.statuses = [503]
    assert alerts.send(event) is True and len(hook.received) == 2  # the retry got through
    hook.statuses = [500, 500]
    assert alerts.send(event) is False and len(hook.received) == 4
    (warning,) = [r for r in caplog.records if getattr(r, "event", None) == "alert_failed"]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage().endswith(f"not delivered to {hook.url('')}: HTTP 500 (no_service)")
    hook.statuses = [404]  # a 4xx is not retried
    assert alerts.send(event) is False and len(hook.received) == 5
    assert all(TOKEN not in r.getMessage() and TOKEN not in str(r.__dict__) for r in caplog.records)


def test_a_webhook_that_never_answers_costs_the_timeout_not_the_run(caplog):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # accepts connections (the kernel's backlog), never answers
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}{PATH}"
        alerts = Alerts(AlertsConfig(timeout_s=0.3), url)
        (event,) = run_events("s", 1, "failed", "boom", COUNTS)
        started = time.monotonic()
        assert alerts.send(event) is False
        assert time.monotonic() - started < 10  # 2 tries of 0.3 s and a short back-off
    finally:
        server.close()
    (warning,) = [r for r in caplog.records if getattr(r, "event", None) == "alert_failed"]
    assert "no answer within 0.3 s" in warning.getMessage() and TOKEN not in warning.getMessage()
    assert all(TOKEN not in r.getMessage() for r in caplog.records)  # urllib3's own log lines included


def test_send_alert_never_raises_on_a_refused_url(caplog):
    (event,) = run_events("s", 1, "failed", "boom", COUNTS)
    assert send_alert(AlertsConfig(), event, {ENV: f"http://example.com{PATH}"}) is False
    assert send_alert(None, event, {}) is False
    (warning,) = [r for r in caplog.records if getattr(r, "event", None) == "alert_failed"]
    assert f"${ENV}" in warning.getMessage() and TOKEN not in warning.getMessage()


# ---------------------------------------------------------------- end to end: crmseg sync
def _alerts_table(fmt: str = "json", timeout: str = "5") -> str:
    return f'\n[alerts]\nwebhook_url_env = "{ENV}"\nformat = "{fmt}"\ntimeout_s = {timeout}\n'


@pytest.mark.parametrize("crm", ["hubspot"])
def test_a_tripped_guard_posts_its_figures_and_the_run_ends_as_without_alerts(tmp_path, hook, crm):
    env = SyncEnv(tmp_path, crm, 200, extra_config="max_changes = 3\n" + _alerts_table())
    try:
        before = env.crm_tags()
        res = crmseg("sync", "--config", env.config, "-q", cwd=env.tmp, env={**env.sb.env(), ENV: hook.url(PATH)})
        assert res.returncode == 1, res.output  # the guard's exit code, alert or not
        assert env.crm_tags() == before
        run = env.runs()[-1]
        ((path, ctype, body),) = hook.received
        assert path == PATH and ctype == "application/json"
        assert (body["event"], body["sync"], body["run_id"], body["status"]) == (
            "guard_tripped",
            "sandbox",
            run.id,
            "aborted",
        )
        guard = body["guard"]
        assert guard["max_changes"] == "3" and guard["tripped"] and guard["accounts"] == 200
        assert guard["would_change"] == run.counts["changed"] > 3 and guard["allowed"] == 3
        assert body["counts"]["written"] == 0 and body["counts"]["changed"] == guard["would_change"]
        assert "over max_changes = 3" in body["message"] and body["message"] == run.message
        _no_secret(tmp_path, res.stdout, res.stderr)
    finally:
        env.close()


def _csv_sync(tmp_path: Path, extra: str = "") -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "accounts.csv")
    config = tmp_path / "config.toml"
    config.write_text(
        '[state]\npath = "state.sqlite"\n[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\n'
        f'mapping = "{ROOT / "connectors" / "csv.toml"}"\nrules = "rules"\nengine = "native"\n{extra}',
        encoding="utf-8",
    )
    return config


def _sync(config: Path, url: str | None) -> tuple[int, str, str]:
    res = crmseg("sync", "--config", config, "-q", cwd=config.parent, env={ENV: url})
    return res.returncode, res.stdout, res.stderr


@pytest.mark.parametrize("fmt", ["json", "slack"])
def test_a_failed_run_is_posted_in_the_configured_format(tmp_path, hook, fmt):
    config = _csv_sync(tmp_path, _alerts_table(fmt))
    with (tmp_path / "accounts.csv").open("a", encoding="utf-8") as fh:
        fh.write('acc-x,"broken\n')  # a quote that never closes: the run fails reading
    code, out, err = _sync(config, hook.url(PATH))
    assert code == 2 and "run 1: failed" in out, out + err
    ((path, _, body),) = hook.received
    assert path == PATH
    if fmt == "json":
        assert (body["event"], body["sync"], body["run_id"], body["status"]) == ("run_failed", "demo", 1, "failed")
        assert "unbalanced quote" in body["message"] and body["counts"]["read"] == 0
    else:
        assert set(body) == {"text", "blocks"}
        assert body["text"].startswith("crmseg: Sync run failed (sync demo): ")
        assert "accounts.csv:402: unbalanced quote" in body["text"]
        assert body["blocks"][0]["type"] == "header" and body["blocks"][2]["fields"][0]["text"] == "*Run*\n1 (failed)"
    _no_secret(tmp_path, out, err)


def test_a_run_that_cannot_start_alerts_with_the_failed_run_it_recorded(tmp_path, hook):
    config = _csv_sync(tmp_path, _alerts_table())
    (tmp_path / "accounts.csv").unlink()  # the source is gone before the run plans
    code, out, err = _sync(config, hook.url(PATH))
    assert code == 2, out + err
    ((_, _, body),) = hook.received
    # the run ended before reading, and is recorded as such (run 1, failed): the alert names it
    assert (body["event"], body["sync"], body["run_id"], body["status"]) == ("run_failed", "demo", 1, "failed")
    assert body["message"].startswith("not run: ") and "accounts.csv" in body["message"]
    _no_secret(tmp_path, out, err)


def test_drift_on_a_succeeded_run_alerts_and_an_unreachable_webhook_is_only_a_warning(tmp_path, hook, dead_url):
    config = _csv_sync(tmp_path, "drift_alert_psi = 0.1\n" + _alerts_table(timeout="2"))
    assert _sync(config, hook.url(PATH))[0] == 0
    assert hook.received == []  # a first run: no drift to measure, nothing to alert
    seg = tmp_path / "rules" / "segment.toml"
    seg.write_text(
        seg.read_text().split("[[test]]")[0].replace("employees >= 1000 or", "employees >= 50 or"), encoding="utf-8"
    )
    code, out, err = _sync(config, hook.url(PATH))
    assert code == 0 and "drift alert" in out, out + err
    ((_, _, body),) = hook.received
    assert (body["event"], body["run_id"], body["status"]) == ("drift_alert", 2, "succeeded")
    assert body["drift"].startswith("segment PSI") and "against run 1" in body["drift"]

    # the same drift again, to a webhook nobody listens on: a warning, the same run and exit code
    seg.write_text(seg.read_text().replace("employees >= 50 or", "employees >= 5000 or"), encoding="utf-8")
    code, out, err = _sync(config, dead_url)
    assert code == 0 and "run 3: succeeded" in out and "drift alert" in out, out + err
    port = dead_url.split(":")[2].split("/")[0]
    assert f"alert drift_alert for sync demo not delivered to http://127.0.0.1:{port}: cannot connect" in err
    _no_secret(tmp_path, out, err)


def test_a_refused_webhook_url_stops_the_sync_before_it_starts(tmp_path):
    config = _csv_sync(tmp_path, _alerts_table())
    code, out, err = _sync(config, f"http://hooks.example.com{PATH}")
    assert code == 2 and f"${ENV} uses plain http:// to hooks.example.com" in err
    code, out, err = _sync(config, None)
    assert code == 2 and f"${ENV}, which is not set" in err
    assert not (tmp_path / "state.sqlite").exists()  # nothing ran
    _no_secret(tmp_path, out, err)


# ---------------------------------------------------------------- the daemon's rule guard
def test_a_rejected_rule_edit_is_posted_once(tmp_path, hook, monkeypatch):
    monkeypatch.setattr(reload_mod, "SETTLE_S", 0.2)
    monkeypatch.setenv(ENV, hook.url(PATH))
    config = _csv_sync(tmp_path, _alerts_table("slack"))
    old = time.time() - 3600
    for path in (tmp_path / "rules").glob("*.toml"):
        os.utime(path, (old, old))
    cfg = load_config(config)
    guard = RuleGuard()
    first = guard.current(cfg, cfg.syncs["demo"])
    assert first is not None and hook.received == []
    tier = tmp_path / "rules" / "tier.toml"
    tier.write_text(tier.read_text().replace("icp_score >= 70", "icp_scor >= 70"), encoding="utf-8")
    os.utime(tier, (old, old))
    for _ in range(3):  # reported (and posted) once, whatever the number of runs
        assert guard.current(cfg, cfg.syncs["demo"]) is first
    ((_, _, body),) = hook.received
    assert body["text"].startswith(f"crmseg: Rule edit rejected (sync demo): rules in {tmp_path / 'rules'} do not pass")
    problems = body["blocks"][2]["text"]["text"]
    assert "icp_scor" in problems and "keeping the rules loaded at" in body["text"]


# ---------------------------------------------------------------- the daemon (subprocess)
def test_a_daemon_posts_a_rejected_edit_once_and_keeps_the_secret_out_of_its_logs(tmp_path, hook, daemon):
    config = _csv_sync(tmp_path, 'interval = "1s"\n' + _alerts_table())
    d = daemon(config, process_env({ENV: hook.url(PATH)}), tmp_path, metrics=False)
    try:
        d.wait_for(lambda e: e.get("event") == "run" and e["status"] == "succeeded", timeout=60)
        assert hook.received == []  # a succeeded run without drift: nothing to say
        tier = tmp_path / "rules" / "tier.toml"
        tier.write_text(tier.read_text().replace("icp_score >= 70", "icp_scor >= 70"), encoding="utf-8")
        d.wait_for(lambda e: e.get("event") == "alert_sent", timeout=60)
        runs = len(d.runs())
        d.wait_for(lambda e: e.get("event") == "run", timeout=60, count=runs + 2)  # later runs: no new alert
        ((path, _, body),) = hook.received
        assert path == PATH and (body["event"], body["sync"], body["run_id"]) == ("rules_rejected", "demo", None)
        assert any("icp_scor" in p for p in body["problems"]) and "keeping the rules loaded at" in body["message"]
        sent = d.wait_for(lambda e: e.get("event") == "alert_sent", timeout=5)[0]
        assert sent["webhook"] == hook.url("") and sent["alert"] == "rules_rejected"
        assert d.stop() == 0
    finally:
        d.kill()
    assert not any(TOKEN in line for line in d.raw)


def test_a_daemon_with_a_refused_webhook_url_does_not_start(tmp_path, daemon):
    config = _csv_sync(tmp_path, 'interval = "1s"\n' + _alerts_table())
    d = daemon(config, process_env({ENV: f"http://hooks.example.com{PATH}"}), tmp_path, metrics=False)
    try:
        assert d.proc.wait(timeout=60) == 2
    finally:
        d.kill()
    out = "".join(d.raw)
    assert f"${ENV} uses plain http:// to hooks.example.com" in out and TOKEN not in out


def test_a_config_reload_whose_webhook_variable_is_unset_keeps_the_running_config(tmp_path, monkeypatch, caplog):
    from crmseg.daemon.scheduler import Daemon

    config = _csv_sync(tmp_path, _alerts_table())
    monkeypatch.setenv(ENV, "http://127.0.0.1:9/hook")
    daemon = Daemon(config)
    service = daemon.service
    config.write_text(config.read_text().replace(f'"{ENV}"', '"OTHER_WEBHOOK_URL"'), encoding="utf-8")
    monkeypatch.delenv("OTHER_WEBHOOK_URL", raising=False)
    daemon.reload_config()
    assert daemon.service is service and daemon.cfg.alerts.webhook_url_env == ENV
    (rejected,) = [r for r in caplog.records if getattr(r, "event", None) == "config_rejected"]
    assert "$OTHER_WEBHOOK_URL, which is not set" in rejected.getMessage()


def test_a_run_stopped_on_request_is_no_alert_one_the_budget_stopped_is(tmp_path, hook, monkeypatch):
    from crmseg.sync.budget import BudgetExhausted
    from crmseg.sync.outcome import SyncOutcome
    from crmseg.sync.service import SyncService
    from crmseg.sync.writer import StopRequested

    monkeypatch.setenv(ENV, hook.url(PATH))
    service = SyncService(load_config(_csv_sync(tmp_path, _alerts_table())))

    def ended(error: Exception) -> SyncOutcome:
        return SyncOutcome(3, "demo", "aborted", "full", COUNTS, "2026-12-01T10:00:00Z", 1.0, str(error), error=error)

    service._alert(ended(StopRequested("stopped on request")))  # the hook run() calls with every outcome
    assert hook.received == []  # a signal: someone asked for it
    service._alert(ended(BudgetExhausted("the API reserve is reached")))
    ((_, _, body),) = hook.received
    assert (body["event"], body["run_id"], body["message"]) == ("run_aborted", 3, "the API reserve is reached")
