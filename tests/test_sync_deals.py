"""A sync that reads deals: a csv sync with ``deals = "deals.csv"`` end to end through the CLI
(deals in state, the run summary, ``status``), the config's errors, and the deal step's
watermark and stop behaviour with an in-test ``DealReads``."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from crmseg.config import HubSpotSync, SalesforceSync, canonical_deals_mapping
from crmseg.connectors.base import Capabilities
from crmseg.errors import ConfigError
from crmseg.model import RawRecord
from crmseg.state import open_store
from crmseg.sync.budget import Budget
from crmseg.sync.deals_step import DealStep, deal_step
from crmseg.sync.writer import StopRequested

from .cli_run import crmseg

ROOT = Path(__file__).resolve().parents[1]
HEADER = "id,account_id,amount,currency,created_at,closed_at,status,stage,pipeline,type\n"
DEALS = (
    "d1,acc-000001,1000,USD,2026-01-05T10:00:00Z,,open,Proposal,default,New Business\n"
    "d2,acc-000002,2500.50,USD,2026-01-06T10:00:00Z,2026-02-01,won,Closed Won,default,Renewal\n"
    "d3,,300,USD,2026-01-07T10:00:00Z,2026-02-02,lost,Closed Lost,default,\n"
    "d4,acc-999999,700,USD,2026-01-08T10:00:00Z,2026-02-03,won,Closed Won,default,\n"
    "d5,acc-000003,n/a,USD,,,open,Proposal,default,\n"  # no created time: a bad deal
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "accounts.csv")
    (tmp_path / "deals.csv").write_text(HEADER + DEALS, encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        '[state]\npath = "state.sqlite"\n'
        '[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\nrules = "rules"\ndeals = "deals.csv"\n',
        encoding="utf-8",
    )
    return tmp_path


def status_json(project: Path) -> dict:
    res = crmseg("status", "--config", project / "config.toml", "--json", cwd=project)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["syncs"]["demo"]


def test_a_file_sync_reads_its_deals_into_state_counted_and_shown(project: Path):
    res = crmseg("sync", "--config", project / "config.toml", cwd=project, env={"COLUMNS": "200"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert (
        "deals: full read 4 (open 1 · won 2 · lost 1) · no account 1 · unknown account 1 · bad 1 · removed 0"
        in res.stdout
    )
    assert "d5: 'created_at': no value" in res.stdout
    s = status_json(project)
    assert s["deals"] == {
        "total": 4,
        "open": 1,
        "won": 2,
        "lost": 1,
        "no_account": 1,
        "unknown_account": 1,
        "watermark": None,  # a file has no clock: every read is full
    }
    assert s["last_run"]["read"] == 400 and s["watermark"] is None  # the spec's keys hold
    text = crmseg("status", "--config", project / "config.toml", cwd=project, env={"COLUMNS": "200"}).stdout
    assert "deals 4: open 1 · won 2 · lost 1 · no account 1 · unknown account 1" in text

    # the CRM closed d1, deleted d2 and d3 and fixed d5: updated in place, the deleted ones gone
    (project / "deals.csv").write_text(
        HEADER
        + "d1,acc-000001,1000,USD,2026-01-05T10:00:00Z,2026-03-01,won,Closed Won,default,New Business\n"
        + "d4,acc-999999,700,USD,2026-01-08T10:00:00Z,2026-02-03,won,Closed Won,default,\n"
        + "d5,acc-000003,,USD,2026-01-09T10:00:00Z,,open,Proposal,default,\n",
        encoding="utf-8",
    )
    res = crmseg("sync", "--config", project / "config.toml", cwd=project, env={"COLUMNS": "200"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "deals: full read 3 (open 1 · won 2 · lost 0)" in res.stdout and "removed 2" in res.stdout
    assert status_json(project)["deals"]["total"] == 3
    store = open_store(project / "state.sqlite")
    try:
        got = {d.id: d for d in store.iter_deals("demo")}
    finally:
        store.close()
    assert sorted(got) == ["d1", "d4", "d5"]
    assert got["d1"].status == "won" and str(got["d1"].closed_at) == "2026-03-01" and got["d5"].amount is None


def test_a_sync_without_deals_shows_none(project: Path):
    text = (project / "config.toml").read_text(encoding="utf-8").replace('deals = "deals.csv"\n', "")
    (project / "config.toml").write_text(text, encoding="utf-8")
    res = crmseg("sync", "--config", project / "config.toml", cwd=project)
    assert res.returncode == 0 and "deals:" not in res.stdout
    assert status_json(project)["deals"] is None


@pytest.mark.parametrize(
    ("sync", "message"),
    [
        ('connector = "csv"\npath = "accounts.csv"\ndeals = true', "syncs.demo.deals: a csv/jsonl sync reads deals"),
        ('connector = "csv"\npath = "accounts.csv"\ndeals = "deals.txt"', "syncs.demo.deals: 'deals.txt' is not"),
        (
            'connector = "hubspot"\nmapping = "m.toml"\ndeals = "deals.csv"',
            "syncs.demo.deals: must be true or false",
        ),
    ],
)
def test_a_bad_deals_key_is_a_config_error_naming_it(project: Path, sync: str, message: str):
    (project / "config.toml").write_text(
        f'[state]\npath = "state.sqlite"\n[syncs.demo]\n{sync}\nrules = "rules"\n', encoding="utf-8"
    )
    res = crmseg("sync", "--config", project / "config.toml", cwd=project)
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert not (project / "state.sqlite").exists()


def test_a_missing_deals_file_fails_the_run_naming_it(project: Path):
    (project / "deals.csv").unlink()
    res = crmseg("sync", "--config", project / "config.toml", cwd=project)
    assert res.returncode == 2 and "deals.csv" in res.stdout + res.stderr
    assert status_json(project)["last_run"]["status"] == "failed"


def _plan(caps: Capabilities, deals_mapping=None) -> SimpleNamespace:
    return SimpleNamespace(
        connector=SimpleNamespace(capabilities=caps), mapping=SimpleNamespace(deals=deals_mapping, path="sf.toml")
    )


def test_deals_true_on_a_connector_without_the_capability_names_the_sync_and_connector():
    cfg = SalesforceSync(connector="salesforce", name="crm", deals=True)
    with pytest.raises(ConfigError, match=r"syncs\.crm\.deals: the 'salesforce' connector of sync 'crm' cannot read"):
        deal_step(cfg, _plan(Capabilities()))  # type: ignore[arg-type]
    reads = FakeDeals([])
    with pytest.raises(ConfigError, match=r"syncs\.crm\.deals = true, but the mapping sf\.toml has no \[deals\]"):
        deal_step(cfg, _plan(Capabilities(deals=reads)))  # type: ignore[arg-type]
    assert deal_step(HubSpotSync(connector="hubspot", name="crm"), _plan(Capabilities())) is None  # type: ignore[arg-type]


class FakeDeals:
    """An in-test ``DealReads``: canonical columns, ``since`` filtering on ``modified``."""

    multi_currency = False

    def __init__(self, rows: list[dict], stop_after: int | None = None, stop: threading.Event | None = None) -> None:
        self.rows, self.stop_after, self.stop, self.since = rows, stop_after, stop, []

    def read_deals(self, fields, since=None):
        self.since.append(since)
        for i, row in enumerate(self.rows):
            if since is not None and row["modified"] < since:
                continue
            if self.stop_after is not None and i == self.stop_after and self.stop is not None:
                self.stop.set()
            yield RawRecord(row["id"], row)


def _rows(n: int) -> list[dict]:
    return [
        {
            "id": f"d{i:04d}",
            "account_id": "a",
            "created_at": "2026-01-01T00:00:00Z",
            "status": "open",
            "modified": datetime(2026, 1, 1 + i % 20, tzinfo=UTC),
        }
        for i in range(n)
    ]


def test_the_deal_step_moves_its_watermark_only_after_recording_and_reads_incrementally(tmp_path: Path):
    store = open_store(tmp_path / "s.sqlite")
    mark = datetime(2026, 1, 10, tzinfo=UTC)
    rows = _rows(2500)
    stop = threading.Event()
    reads = FakeDeals(rows, stop_after=1500, stop=stop)
    step = DealStep("demo", reads, canonical_deals_mapping())
    budget = Budget(None, 0)

    def check_stop() -> None:
        if stop.is_set():
            raise StopRequested("stopped")

    try:
        run = store.begin_run("demo", "full", None, "fp", "h", "2026-01-10T00:00:00Z")
        with pytest.raises(StopRequested):  # stopped after the second chunk: watermark untouched
            step.run(store, run, store.sync_state("demo"), full=True, mark=mark, budget=budget, check_stop=check_stop)
        assert store.sync_state("demo").deals_watermark is None and store.deal_counts("demo").total == 2000
        stop.clear()
        reads.stop_after = None
        run = store.begin_run("demo", "full", None, "fp", "h", "2026-01-10T00:00:00Z")
        out = step.run(
            store, run, store.sync_state("demo"), full=False, mark=mark, budget=budget, check_stop=check_stop
        )
        assert (out.mode, out.read, out.removed) == ("full", 2500, 0)  # no watermark yet: a full read
        assert store.sync_state("demo").deals_watermark == "2026-01-10T00:00:00.000000Z" == out.watermark_after
        run = store.begin_run("demo", "incremental", None, "fp", "h", "2026-01-11T00:00:00Z")
        out = step.run(
            store, run, store.sync_state("demo"), full=False, mark=mark, budget=budget, check_stop=check_stop
        )
        assert reads.since[-1] == mark and out.mode == "incremental" and out.removed == 0
        assert out.read == sum(1 for r in rows if r["modified"] >= mark)
        assert store.deal_counts("demo").total == 2500 and out.unknown_account == out.read  # 'a' never read
    finally:
        store.close()
