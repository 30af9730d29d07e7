"""Sandbox seeding, store, schema, config writing and the command line."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from crmseg.config import load_config, load_mapping
from crmseg.sandbox import SandboxServer, default_mapping, synthetic_accounts, write_sandbox_config
from crmseg.sandbox.schema import build_schema, load_dimensions
from crmseg.sandbox.seed import sf_id, sf_id18
from crmseg.sandbox.store import Record, Store

ROOT = Path(__file__).resolve().parents[1]
MAPPING_TOML = """object = "Account"
id_field = "Id"
modified_field = "SystemModstamp"
pin_field = "Pin__c"
[tags]
segment = "Seg__c"
[fields.id]
source = "Id"
[fields.name]
source = "Name"
[fields.employees]
source = "NumberOfEmployees"
type = "int"
[fields.country]
source = "BillingCountry"
normalize = "country"
[fields.tech_stack]
source = "Tech__c"
type = "list"
[fields.updated_at]
source = "LastModifiedDate"
type = "datetime"
[fields.region]
source = "Region__c"
"""
SEGMENT = 'dimension = "segment"\nvalues = ["SMB", "Enterprise"]\n'


def test_synthetic_accounts_are_deterministic_and_messy():
    a, b = synthetic_accounts(400, seed=3), synthetic_accounts(400, seed=3)
    assert a == b and a != synthetic_accounts(400, seed=4)
    countries = {r["country"] for r in a}
    assert {"USA", "U.S.", "United States"} <= countries and "" in countries
    sizes = [int(r["employees"].replace(",", "")) for r in a if r["employees"].replace(",", "").isdigit()]
    assert min(sizes) < 50 and sum(n >= 1000 for n in sizes) > 8 and any(r["employees"] == "" for r in a)
    assert {"Software", "SaaS", "Computer Software"} <= {r["industry"] for r in a}
    assert any(r["crmseg_segment"] for r in a) and any(r["crmseg_pin"] == "true" for r in a)


def test_synthetic_accounts_come_from_the_sample_generator():
    """One generator: the one that wrote examples/accounts.csv (400 rows, seed 2026)."""
    with (ROOT / "examples" / "accounts.csv").open(newline="", encoding="utf-8") as fh:
        assert synthetic_accounts(400, seed=2026) == list(csv.DictReader(fh))


def test_synthetic_accounts_without_the_scripts_folder_is_a_config_error(tmp_path, monkeypatch):
    """No checkout and no packaged copy (a broken install): a ConfigError, not a traceback."""
    import crmseg.defaults
    import crmseg.sandbox.defaults as defaults
    import crmseg.sandbox.synthetic as synthetic
    from crmseg.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(defaults, "checkout_root", lambda: tmp_path / "installed")
    monkeypatch.setattr(crmseg.defaults, "packaged", lambda relative: None)
    monkeypatch.delitem(sys.modules, synthetic._MODULE, raising=False)
    with pytest.raises(ConfigError, match=r"scripts/make_sample_accounts\.py.*--seed FILE"):
        synthetic_accounts(3)
    with pytest.raises(ConfigError, match=r"connectors/hubspot\.toml.*--mapping FILE"):
        SandboxServer("hubspot", accounts=[])


def test_seed_keeps_ids_current_tags_and_pins(tmp_path):
    """examples/accounts.csv as seed: its ids map to CRM ids, its crmseg_* columns become tags and pins."""
    rows = list(csv.DictReader((ROOT / "examples" / "accounts.csv").open(newline="", encoding="utf-8")))
    with SandboxServer("hubspot", accounts=ROOT / "examples" / "accounts.csv", rules_dir=ROOT / "rules") as sb:
        m = sb.mapping
        served = requests.get(f"{sb.url}/__sandbox/ids", timeout=5).json()
        assert served["id_map"] == sb.id_map and len(sb.id_map) == len(rows) == len(served["ids"])
        for row in rows:
            rec = sb.record(sb.id_map[row["id"]])
            assert rec[m.source_of("name")] == row["name"]
            assert (rec[m.tag_field("segment")] or "") == row["crmseg_segment"]
            assert rec[m.pin_field] is (row["crmseg_pin"] == "true")


def test_salesforce_ids():
    assert sf_id18("001A0000006Vm9r") == "001A0000006Vm9rIAC"  # the documented case-safe suffix
    ids = [sf_id(n) for n in (1, 61, 62, 3844, 10**6)]
    assert all(len(i) == 18 and i.startswith("001") for i in ids) and ids == sorted(ids)


def test_store_bumps_modification_time_and_never_goes_back(tmp_path):
    st = Store(str(tmp_path / "s.sqlite"))
    st.insert_many([Record("a", 1, 5_000, {"x": 1}), Record("b", 1, 9_000, {"x": 2})])
    assert st.update("a", {"x": 3}, 7_000).modified_ms == 7_000
    assert st.update("b", {"x": 4}, 7_000).modified_ms == 9_000
    assert st.update("zz", {}, 7_000) is None and st.get("a").data == {"x": 3}
    threads = [threading.Thread(target=lambda i=i: st.update("a", {f"k{i}": i}, 8_000 + i)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(st.get("a").data) == 21 and st.count() == 2
    st.close()
    assert Store(str(tmp_path / "s.sqlite")).get("b").data == {"x": 4}  # persisted


def test_csv_seed_through_a_mapping_file(tmp_path):
    (tmp_path / "m.toml").write_text(MAPPING_TOML)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "segment.toml").write_text(SEGMENT)
    rows = [
        {
            "id": "acc-1",
            "name": "Acme",
            "employees": "120",
            "country": "USA",
            "tech_stack": "AWS|Snowflake",
            "updated_at": "2026-10-01T10:00:00Z",
            "region": "EMEA",
            "crmseg_segment": "SMB",
            "pinned": "true",
        },
        {
            "id": "acc-2",
            "name": "Globex",
            "employees": "n/a",
            "country": "U.S.",
            "tech_stack": "",
            "updated_at": "2026-10-02T10:00:00.5Z",
            "region": "",
            "crmseg_segment": "",
        },
    ]
    with (tmp_path / "seed.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    mapping = load_mapping(tmp_path / "m.toml")
    with SandboxServer(
        "salesforce", accounts=tmp_path / "seed.csv", mapping=mapping, rules_dir=tmp_path / "rules"
    ) as sb:
        first, second = sb.id_map["acc-1"], sb.id_map["acc-2"]
        expected = {
            "Name": "Acme",
            "NumberOfEmployees": 120,
            "BillingCountry": "USA",
            "Tech__c": "AWS;Snowflake",
            "Region__c": "EMEA",
            "Seg__c": "SMB",
            "Pin__c": True,
        }
        assert {k: v for k, v in sb.record(first).items() if v is not None} == expected
        assert sb.record(second)["NumberOfEmployees"] is None and sb.record(second)["Seg__c"] is None
        stamp = datetime(2026, 10, 2, 10, tzinfo=UTC).timestamp() * 1000
        assert sb.modified_ms(second) == stamp  # updated_at, in whole seconds for Salesforce
        seg = sb.schema["Seg__c"]
        assert seg.kind == "picklist" and seg.options == ["SMB", "Enterprise"] and seg.restricted
        assert sb.schema["Tech__c"].options == ["AWS", "Snowflake"]
        assert {"Pin__c", "Region__c"} <= set(sb.schema)


def test_dimensions_and_schema_without_tags(tmp_path):
    (tmp_path / "segment.toml").write_text(SEGMENT)
    (tmp_path / "score.toml").write_text('dimension = "fit"\nkind = "score"\n')
    dims = load_dimensions(tmp_path)
    assert dims["segment"].values == ("SMB", "Enterprise") and dims["fit"].kind == "score"
    schema = build_schema("hubspot", default_mapping("hubspot"), dims)
    assert schema["crmseg_fit"].kind == "double" and schema["crmseg_segment"].restricted
    bare = build_schema("hubspot", default_mapping("hubspot"), dims, create_tags=False)
    assert "crmseg_segment" not in bare and default_mapping("hubspot").pin_field not in bare


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_write_sandbox_config_loads(tmp_path, crm):
    (tmp_path / "rules").mkdir()
    with SandboxServer(crm, accounts=3, mapping=default_mapping(crm), rules_dir=tmp_path / "rules") as sb:
        cfg = load_config(write_sandbox_config(sb, tmp_path / "out" / "sandbox.toml"))
    sync = cfg.sync(None)
    assert sync.connector == crm
    assert (sync.instance_url if crm == "salesforce" else sync.host) == sb.url
    assert cfg.resolve(sync.rules).resolve() == (tmp_path / "rules").resolve()
    assert load_mapping(cfg.resolve(sync.mapping)).tags == default_mapping(crm).tags
    text = (tmp_path / "out" / "sandbox.toml").read_text()
    assert "sandbox-token" not in text and "pat-sandbox" not in text  # env var names only


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_shipped_mappings_and_rules_are_served(crm):
    mapping_file, rules = ROOT / "connectors" / f"{crm}.toml", ROOT / "rules"
    if not mapping_file.is_file() or not rules.is_dir():
        pytest.skip("shipped connectors/ or rules/ not present")
    mapping = load_mapping(mapping_file)
    with SandboxServer(crm, accounts=20, mapping=mapping, rules_dir=rules) as sb:
        for canonical, fm in mapping.fields.items():
            assert (fm.source or canonical) in sb.schema
        for target in mapping.tags.values():
            assert target in sb.schema
        assert mapping.pin_field in sb.schema


def _start_cli(*args: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmseg.sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = [proc.stdout.readline()]
    if "listening on" not in lines[0]:
        proc.kill()
        raise AssertionError(f"no startup line: {lines[0]!r} {proc.stderr.read()}")
    while "Press Ctrl+C" not in lines[-1] and lines[-1]:
        lines.append(proc.stdout.readline())
    return proc, "".join(lines)


def _url(banner: str) -> str:
    return banner.split("listening on ", 1)[1].split()[0]


def test_cli_runs_until_sigterm(tmp_path):
    out = tmp_path / "cfg.toml"
    proc, banner = _start_cli("--crm", "hubspot", "--port", "0", "--accounts", "25", "--write-config", str(out))
    url = _url(banner)
    try:
        assert requests.get(f"{url}/__sandbox/health", timeout=5).json() == {
            "ok": True,
            "crm": "hubspot",
            "accounts": 25,
        }
        assert load_config(out).sync(None).host == url
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "export HUBSPOT_ACCESS_TOKEN=pat-sandbox" in banner and "sandbox stopped" in stdout


def test_cli_bad_usage_exits_2(tmp_path):
    both = subprocess.run(
        [sys.executable, "-m", "crmseg.sandbox", "--crm", "hubspot", "--seed", "x.csv", "--accounts", "3"],
        capture_output=True,
        text=True,
    )
    assert both.returncode == 2
    missing = subprocess.run(
        [sys.executable, "-m", "crmseg.sandbox", "--crm", "salesforce", "--seed", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "file not found" in missing.stderr
