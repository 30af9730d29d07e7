"""The review on a schedule and ``review --refresh``: ``[review] schedule`` / ``reports_dir``
validated with the config; the daemon's review job called directly (reports written under
their period and day, each alert logged and sent to ``[alerts]``, a failure logged and
counted, never raised); one real daemon writing the reports; ``--refresh`` running the sync
before the review."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from crmseg.config import load_config
from crmseg.daemon.review_job import review_sync
from crmseg.daemon.scheduler import Daemon
from crmseg.errors import ConfigError
from crmseg.review.period import previous_quarter, quarter_containing
from crmseg.state import open_state

from .cli_run import ROOT, crmseg, process_env
from .webhook_server import WebhookServer

MAPPING = ROOT / "connectors" / "csv.toml"
SEGMENT = """dimension = "segment"
kind = "label"
default = "Small"
values = ["Big", "Small"]

[[rule]]
name = "big"
when = "employees >= 100"
value = "Big"
"""
ACCOUNTS = "id,name,employees\na1,Alpha,800\na2,Beta,150\na3,Gamma,20\n"
HEAD = "id,account_id,amount,currency,created_at,closed_at,status,stage,pipeline,type\n"


def _deals(decaying: bool) -> str:
    """Ten closed deals of Big in each of the last two full quarters before today: 9 won then 1
    won (decaying: Fisher p ≈ 0.001), or 5 and 5 (stable); Small: 2 won, 2 lost in each."""
    last = previous_quarter(quarter_containing(date.today()))
    before = previous_quarter(last)
    rows = []
    for q, quarter in (("b", before), ("l", last)):
        for i in range(10):
            won = (i > 0) if q == "b" else (i == 0) if decaying else i < 5
            closed = quarter.start + timedelta(days=i + 5)
            created = closed - timedelta(days=30)
            account = "a1" if i % 2 else "a2"
            rows.append(f"{q}{i},{account},100,USD,{created}T00:00:00Z,{closed},{'won' if won else 'lost'},,,")
        for i in range(4):
            closed = quarter.start + timedelta(days=i + 20)
            rows.append(
                f"{q}s{i},a3,50,USD,{closed - timedelta(days=9)}T00:00:00Z,{closed},{('won', 'lost')[i % 2]},,,"
            )
    return HEAD + "\n".join(rows) + "\n"


def _setup(tmp_path: Path, extra: str = "", *, decaying: bool = True, sync_extra: str = "") -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "segment.toml").write_text(SEGMENT)
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    (tmp_path / "deals.csv").write_text(_deals(decaying))
    config = tmp_path / "config.toml"
    config.write_text(
        '[state]\npath = "state.sqlite"\n'
        f'[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\nmapping = "{MAPPING}"\nrules = "rules"\n'
        f'engine = "native"\ndeals = "deals.csv"\n{sync_extra}'
        f"[review]\nmin_closed = 5\n{extra}\n"
    )
    return config


# ---------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("review", "message"),
    [
        ('schedule = "every monday"', "neither an interval (30s, 15m, 12h, 7d) nor a 5-field crontab"),
        ('schedule = "1d"\nsyncs = ["nope"]', "[review] syncs: no sync named 'nope'; allowed: demo"),
        ('schedule = "1d"\nreports = ["pdf"]', "reports"),
        ('schedule = "1d"\nreports = []', "reports"),
    ],
)
def test_a_bad_review_schedule_is_refused_with_the_config(tmp_path, review, message):
    config = _setup(tmp_path, review)
    with pytest.raises(ConfigError, match="review") as info:
        load_config(config)
    assert message in str(info.value)


def test_a_review_schedule_needs_a_sync_that_reads_deals(tmp_path):
    config = _setup(tmp_path, 'schedule = "1d"')
    config.write_text(config.read_text().replace('deals = "deals.csv"\n', ""))
    with pytest.raises(ConfigError, match=r"\[review\] schedule: no sync reads deals"):
        load_config(config)
    config.write_text(config.read_text() + 'syncs = ["demo"]\n')
    with pytest.raises(ConfigError, match=r"\[review\] syncs: sync 'demo' reads no deals"):
        load_config(config)


def test_review_schedule_keys_and_their_defaults(tmp_path):
    cfg = load_config(_setup(tmp_path, 'schedule = "0 6 * * 1"'))
    assert (cfg.review.schedule, cfg.review.reports_dir, cfg.review.reports) == (
        "0 6 * * 1",
        "reviews",
        ("json", "html"),
    )
    assert cfg.reviewed_syncs() == ["demo"]
    assert load_config(_setup(tmp_path, "")).review.schedule is None  # no schedule: the daemon reviews nothing


# ---------------------------------------------------------------- the job, called directly
@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        monkeypatch.setenv("CRMSEG_REVIEW_HOOK", server.url("/hook"))
        yield server


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == name]


def _runs(daemon: Daemon, status: str) -> float:
    return daemon.metrics.registry.get_sample_value("crmseg_review_runs_total", {"sync": "demo", "status": status}) or 0


def test_the_review_job_writes_the_reports_logs_and_sends_the_alerts(tmp_path, caplog, hook):
    extra = 'schedule = "1d"\nreports_dir = "out/reviews"\nreports = ["json", "html", "csv", "markdown"]\n'
    config = _setup(tmp_path, extra + '[alerts]\nwebhook_url_env = "CRMSEG_REVIEW_HOOK"\n')
    assert crmseg("sync", "--config", config).returncode == 0
    daemon = Daemon(config, cfg=load_config(config))
    caplog.set_level(logging.INFO, logger="crmseg")
    daemon.review_job("demo")
    last = previous_quarter(quarter_containing(date.today()))
    stem = f"review-demo-{last.start}_{last.end}-on-{datetime.now(UTC).date()}"
    folder = tmp_path / "out" / "reviews"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{stem}.{s}" for s in ("json", "html", "csv", "md"))
    doc = json.loads((folder / f"{stem}.json").read_text())
    assert doc["period"]["start"] == last.start.isoformat() and doc["period"]["end"] == last.end.isoformat()
    (alert,) = doc["alerts"]
    assert "segment Big: win rate fell from 90% to 10%" in alert
    assert (folder / f"{stem}.html").read_text().startswith("<!DOCTYPE html>")
    # the alert as a structured event, the summary event, the webhook and the metrics
    (logged,) = _events(caplog, "review_alert")
    assert logged.levelno == logging.WARNING and logged.fields == {"sync": "demo", "alert": alert}  # type: ignore[attr-defined]
    (done,) = _events(caplog, "review")
    assert done.fields["alerts"] == 1 and str(folder / f"{stem}.json") in done.fields["reports"]  # type: ignore[attr-defined]
    (body,) = hook.bodies()
    assert body["event"] == "review_alert" and body["sync"] == "demo" and body["alerts"] == [alert]
    assert body["period"] == last.to_json() and len(body["reports"]) == 4
    assert _runs(daemon, "alerted") == 1 and _runs(daemon, "failed") == 0
    assert daemon.metrics.registry.get_sample_value("crmseg_review_alerts", {"sync": "demo"}) == 1
    assert not list(folder.glob(".*"))  # no temporary file left behind


def test_a_review_without_alerts_sends_nothing(tmp_path, caplog, hook):
    config = _setup(tmp_path, 'schedule = "1d"\n[alerts]\nwebhook_url_env = "CRMSEG_REVIEW_HOOK"\n', decaying=False)
    assert crmseg("sync", "--config", config).returncode == 0
    daemon = Daemon(config, cfg=load_config(config))
    caplog.set_level(logging.INFO, logger="crmseg")
    daemon.review_job("demo")
    assert len(list((tmp_path / "reviews").glob("review-demo-*.json"))) == 1
    assert _events(caplog, "review_alert") == [] and hook.bodies() == []
    assert _runs(daemon, "succeeded") == 1


def test_a_failing_review_job_is_logged_and_counted_never_raised(tmp_path, caplog):
    config = _setup(tmp_path, 'schedule = "1d"')  # no sync has run: no state to review
    daemon = Daemon(config, cfg=load_config(config))
    caplog.set_level(logging.INFO, logger="crmseg")
    daemon.review_job("demo")
    (failed,) = _events(caplog, "review_failed")
    assert failed.levelno == logging.ERROR and "no state yet" in failed.getMessage()
    assert _runs(daemon, "failed") == 1 and not (tmp_path / "reviews").exists()


def test_the_review_job_waits_for_a_run_holding_the_sync(tmp_path, caplog):
    """A run holds the lease: the review waits for it (here: gives up waiting, says so, and reviews)."""
    config = _setup(tmp_path, 'schedule = "1d"')
    assert crmseg("sync", "--config", config).returncode == 0
    cfg = load_config(config)
    store = open_state(cfg)
    try:  # a live run on another host
        assert store.acquire_lease("demo", "elsewhere:1:x", "elsewhere", 1, 300) is None
    finally:
        store.close()
    daemon = Daemon(config, cfg=load_config(config))
    caplog.set_level(logging.INFO, logger="crmseg")
    started = time.monotonic()
    review_sync("demo", daemon.service, daemon.stop, daemon.metrics, wait_s=1.0)
    assert time.monotonic() - started >= 1.0
    assert _events(caplog, "review_not_waiting") and _events(caplog, "review")


# ---------------------------------------------------------------- --refresh
def test_refresh_runs_the_sync_then_reviews_its_state(tmp_path):
    config = _setup(tmp_path)
    res = crmseg("review", "--config", config, "--refresh", "--json", "r.json", "-q", cwd=tmp_path)
    assert res.returncode == 1, res.output  # the planted decay is an alert
    assert "review not run" not in res.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["deals"]["read"] == 28 and doc["alerts"]
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs WHERE sync = 'demo' AND status = 'succeeded'").fetchone() == (1,)
    # a deal added to the file is in the next --refresh's review (and nowhere before it)
    last = previous_quarter(quarter_containing(date.today()))
    with (tmp_path / "deals.csv").open("a") as fh:
        fh.write(f"new,a3,50,USD,{last.start}T00:00:00Z,{last.start + timedelta(days=3)},won,,,\n")
    res = crmseg("review", "--config", config, "--json", "r.json", "-q", cwd=tmp_path)
    assert json.loads((tmp_path / "r.json").read_text())["deals"]["read"] == 28
    res = crmseg("review", "--config", config, "--refresh", "--json", "r.json", cwd=tmp_path)
    assert json.loads((tmp_path / "r.json").read_text())["deals"]["read"] == 29
    assert "sync 'demo' run 2: succeeded" in res.stderr  # the run's summary on stderr, the review on stdout
    assert "sync 'demo' run" not in res.stdout


def test_refresh_errors_are_the_syncs(tmp_path):
    config = _setup(tmp_path)
    res = crmseg("review", "--source", "accounts.csv", "--deals", "deals.csv", "--refresh", cwd=tmp_path)
    assert res.returncode == 2 and "--refresh goes with --config" in res.output
    (tmp_path / "accounts.csv").write_text("id,name,employees\na1,Alpha,800,extra\n")  # a bad row: the sync stops
    res = crmseg("review", "--config", config, "--refresh", cwd=tmp_path)
    sync = crmseg("sync", "--config", config, cwd=tmp_path)
    assert res.returncode == sync.returncode == 2 and "accounts.csv" in res.stderr, res.output
    config.write_text(config.read_text().replace('deals = "deals.csv"\n', ""))
    res = crmseg("review", "--config", config, "--refresh", cwd=tmp_path)
    assert res.returncode == 2 and "--refresh: sync 'demo' reads no deals" in res.stderr


# ---------------------------------------------------------------- a real daemon
def test_the_daemon_writes_scheduled_review_reports(tmp_path, daemon):
    config = _setup(tmp_path, 'schedule = "1s"\n', sync_extra='interval = "1h"\n')
    d = daemon(config, process_env(), tmp_path, metrics=True)
    d.wait_for(lambda e: e.get("event") == "run" and e["status"] == "succeeded", timeout=90)
    review = d.wait_for(lambda e: e.get("event") == "review", timeout=90)[0]
    folder = tmp_path / "reviews"
    assert {Path(p).suffix for p in review["reports"]} == {".json", ".html"}
    assert all(Path(p).parent == folder and Path(p).is_file() for p in review["reports"])
    assert json.loads(Path(next(p for p in review["reports"] if p.endswith(".json"))).read_text())["alerts"]
    alert = d.wait_for(lambda e: e.get("event") == "review_alert", timeout=30)[0]
    assert alert["sync"] == "demo" and "win rate fell" in alert["alert"]
    assert 'crmseg_review_runs_total{status="alerted",sync="demo"}' in d.get("/metrics").text
