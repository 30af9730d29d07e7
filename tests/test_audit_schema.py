"""`crmseg audit --config` refuses a mapping that names a field the CRM lacks, before reading."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crmseg.sandbox.cli import write_sandbox_config
from crmseg.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("crm, field", [("salesforce", "NumberOfEmployees"), ("hubspot", "numberofemployees")])
def test_mapping_with_unknown_field_fails_before_any_read(tmp_path: Path, crm: str, field: str) -> None:
    with SandboxServer(crm=crm, accounts=20, mapping=ROOT / "connectors" / f"{crm}.toml", rules_dir=ROOT / "rules") as sb:
        mapping = tmp_path / f"{crm}.toml"
        text = (ROOT / "connectors" / f"{crm}.toml").read_text(encoding="utf-8")
        assert f'"{field}"' in text
        mapping.write_text(text.replace(f'"{field}"', '"Employee_Count_Typo__c"', 1), encoding="utf-8")
        cfg = write_sandbox_config(sb, tmp_path / "config.toml")
        cfg.write_text(cfg.read_text().replace(f'mapping = "', f'mapping = "{mapping}" #', 1), encoding="utf-8")
        sb.reset_stats()
        r = subprocess.run([sys.executable, "-m", "crmseg", "audit", "--config", str(cfg), "-q"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60, env={**os.environ, **sb.env()})
        stats = sb.stats()
    assert r.returncode == 2, r.stderr
    obj = "Account" if crm == "salesforce" else "companies"
    assert f"field Employee_Count_Typo__c not found on {obj}" in r.stderr
    by_endpoint = stats["calls"]["by_endpoint"]
    # only the schema was asked for (plus the login): no account was read
    assert set(by_endpoint) == ({"login", "describe"} if crm == "salesforce" else {"properties_list"}), by_endpoint
