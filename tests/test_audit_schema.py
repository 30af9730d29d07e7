"""`crmseg audit --config` refuses a mapping that names a field the CRM lacks, before reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmseg.sandbox.cli import write_sandbox_config
from crmseg.sandbox.server import SandboxServer

from .cli_run import crmseg

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("crm, field", [("salesforce", "NumberOfEmployees"), ("hubspot", "numberofemployees")])
def test_mapping_with_unknown_field_fails_before_any_read(tmp_path: Path, crm: str, field: str) -> None:
    with SandboxServer(
        crm=crm, accounts=20, mapping=ROOT / "connectors" / f"{crm}.toml", rules_dir=ROOT / "rules"
    ) as sb:
        mapping = tmp_path / f"{crm}.toml"
        text = (ROOT / "connectors" / f"{crm}.toml").read_text(encoding="utf-8")
        assert f'"{field}"' in text
        mapping.write_text(text.replace(f'"{field}"', '"Employee_Count_Typo__c"', 1), encoding="utf-8")
        cfg = write_sandbox_config(sb, tmp_path / "config.toml")
        cfg.write_text(cfg.read_text().replace('mapping = "', f'mapping = "{mapping}" #', 1), encoding="utf-8")
        sb.reset_stats()
        r = crmseg("audit", "--config", str(cfg), "-q", cwd=ROOT, env=sb.env())
        stats = sb.stats()
    assert r.returncode == 2, r.stderr
    obj = "Account" if crm == "salesforce" else "companies"
    assert f"field Employee_Count_Typo__c not found on {obj}" in r.stderr
    by_endpoint = stats["calls"]["by_endpoint"]
    # only the schema was asked for (plus the login): no account was read
    assert set(by_endpoint) == ({"oauth_token", "describe"} if crm == "salesforce" else {"properties_list"}), (
        by_endpoint
    )


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_audit_runs_before_provisioning_and_sync_still_refuses(tmp_path: Path, crm: str) -> None:
    import json

    with SandboxServer(
        crm=crm, accounts=20, mapping=ROOT / "connectors" / f"{crm}.toml", rules_dir=ROOT / "rules", create_tags=False
    ) as sb:
        cfg = write_sandbox_config(sb, tmp_path / "config.toml")
        env = sb.env()
        out = tmp_path / "a.json"
        r = crmseg("audit", "--config", str(cfg), "--json", str(out), "-q", cwd=ROOT, env=env)
        assert r.returncode == 0, r.stderr
        doc = json.loads(out.read_text(encoding="utf-8"))
        [note] = [w for w in doc["warnings"] if "fields not found" in w]
        tags = [sb.mapping.tag_field(d) for d in ("segment", "tier", "stage", "icp_score")]
        assert all(t in note for t in tags) and sb.mapping.pin_field in note
        assert ("--provision" in note) == (crm == "hubspot") and "before `crmseg sync`" in note
        assert doc["accounts"] == 20 and doc["pinned"]["accounts"] == 0
        assert all(
            c["added"] + c["unchanged"] == 20 and c["changed"] == c["cleared"] == 0 for c in doc["changes"].values()
        )
        sb.reset_stats()
        r = crmseg("sync", "--config", str(cfg), "-q", cwd=tmp_path, env=env)
        assert r.returncode == 2 and f"tag field {tags[0]}" in r.stderr, r.stderr
        assert "write" not in " ".join(sb.stats()["calls"]["by_endpoint"])
