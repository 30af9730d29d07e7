"""`crmseg schema`: the mapping against the CRM schema, and HubSpot provisioning of tag properties."""

from __future__ import annotations

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
