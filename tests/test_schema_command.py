"""`crmseg schema`: the mapping against the CRM schema, and HubSpot provisioning of tag properties."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import requests

from crmseg.sandbox.cli import write_sandbox_config
from crmseg.sandbox.server import SandboxServer

from .cli_run import CliResult, crmseg

ROOT = Path(__file__).resolve().parents[1]


def run(cfg: Path, env: dict[str, str], *extra: str) -> CliResult:
    return crmseg("schema", "--config", cfg, *extra, env=env)


def test_hubspot_missing_tag_properties_are_reported_then_provisioned(tmp_path: Path) -> None:
    with SandboxServer(
        crm="hubspot",
        accounts=10,
        mapping=ROOT / "connectors" / "hubspot.toml",
        rules_dir=ROOT / "rules",
        create_tags=False,
    ) as sb:
        cfg = write_sandbox_config(sb, tmp_path / "config.toml")
        before = run(cfg, sb.env())
        assert before.returncode == 1
        assert "tag field crmseg_segment for dimension segment" in before.stderr, before.stderr
        done = run(cfg, sb.env(), "--provision")
        assert done.returncode == 0, done.stderr
        assert "created or updated property crmseg_segment" in done.stdout
        assert "mapping fits the CRM schema" in done.stdout
        prop = requests.get(
            f"{sb.url}/crm/v3/properties/companies/crmseg_segment",
            timeout=10,
            headers={"Authorization": f"Bearer {sb.env()['HUBSPOT_ACCESS_TOKEN']}"},
        ).json()
        values = tomllib.loads((ROOT / "rules" / "segment.toml").read_text(encoding="utf-8"))["values"]
        assert prop["type"] == "enumeration" and [o["value"] for o in prop["options"]] == values
        again = run(cfg, sb.env())
        assert again.returncode == 0 and "created" not in again.stdout


def test_salesforce_cannot_provision_and_says_how(tmp_path: Path) -> None:
    with SandboxServer(
        crm="salesforce", accounts=10, mapping=ROOT / "connectors" / "salesforce.toml", rules_dir=ROOT / "rules"
    ) as sb:
        cfg = write_sandbox_config(sb, tmp_path / "config.toml")
        ok = run(cfg, sb.env())
        assert ok.returncode == 0, ok.stderr
        r = run(cfg, sb.env(), "--provision")
        assert r.returncode == 2 and "create the salesforce fields in Setup" in r.stderr


def test_zoho_mapping_checked_against_the_fields_metadata(tmp_path: Path) -> None:
    """API names, types, read-only fields and pick lists covering the rules' labels, from
    ``GET /settings/fields``; a read-only run reads missing tag fields as empty and says where to create them."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    with SandboxServer(
        crm="zoho", accounts=10, mapping=ROOT / "connectors" / "zoho.toml", rules_dir=rules, create_tags=False
    ) as sb:
        cfg = write_sandbox_config(sb, tmp_path / "config.toml")
        missing = run(cfg, sb.env())
        assert missing.returncode == 1
        assert "tag field crmseg_segment for dimension segment not found on Accounts" in missing.stderr
        assert "pin_field crmseg_pin not found on Accounts" in missing.stderr
        audit = crmseg("audit", "--config", cfg, "-q", env=sb.env())
        assert audit.returncode == 0 and "Zoho CRM's Setup > Modules and Fields" in audit.stderr, audit.stderr
        r = run(cfg, sb.env(), "--provision")
        assert r.returncode == 2 and "create the zoho fields in Setup" in r.stderr
    with SandboxServer(crm="zoho", accounts=10, mapping=ROOT / "connectors" / "zoho.toml", rules_dir=rules) as sb:
        cfg = write_sandbox_config(sb, tmp_path / "config.toml")
        ok = run(cfg, sb.env())
        assert ok.returncode == 0 and "mapping fits the CRM schema" in ok.stdout, ok.stderr
        segment = rules / "segment.toml"
        segment.write_text(segment.read_text(encoding="utf-8").replace('"SMB"', '"SMB", "Startup"', 1))
        mapping = (ROOT / "connectors" / "zoho.toml").read_text(encoding="utf-8")
        mapping = mapping.replace('stage = "crmseg_stage"', 'stage = "Modified_Time"')  # a read-only field
        mapping = mapping.replace(
            'source = "Created_Time"\ntype = "datetime"', 'source = "Employees"\ntype = "datetime"'
        )
        mapping = mapping.replace('source = "Industry"', 'source = "Industri"')
        (tmp_path / "zoho.toml").write_text(mapping, encoding="utf-8")
        (tmp_path / "vocabulary.toml").write_text((ROOT / "connectors" / "vocabulary.toml").read_text())
        text = re.sub(r"^mapping = .*$", f'mapping = "{tmp_path / "zoho.toml"}"', cfg.read_text(), flags=re.M)
        cfg.write_text(text, encoding="utf-8")
        bad = run(cfg, sb.env())
        assert bad.returncode == 1, bad.stdout
        assert "field Industri not found on Accounts" in bad.stderr
        assert (
            "field Employees on Accounts is integer (number); it cannot feed created_at of type datetime" in bad.stderr
        )
        assert "tag field Modified_Time for dimension stage on Accounts is not updateable" in bad.stderr
        assert "picklist crmseg_segment on Accounts lacks value(s) 'Startup'" in bad.stderr
