"""``crmseg schema --provision`` for Dynamics 365: crmseg creates no Dataverse column (the
names carry a publisher's prefix), it prints the Web API requests that would, as Microsoft
documents them; the check still fails until they exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from crmseg.config import load_mapping
from crmseg.connectors.dynamics_provision import OPTION_BASE, provision_steps
from crmseg.model import SchemaField
from crmseg.sandbox import SandboxServer
from crmseg.sandbox.cli import write_sandbox_config
from crmseg.sandbox.schema import load_dimensions
from tests.cli_run import crmseg

ROOT = Path(__file__).resolve().parents[1]
MAPPING = load_mapping(ROOT / "connectors" / "dynamics.toml")


def _bodies(text: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each printed step: its title -> (request line, JSON body)."""
    out = {}
    for block in re.split(r"\n(?=\d+\. )", text)[1:]:
        title, line, body = block.split("\n", 2)
        out[title.split(". ", 1)[1]] = (line.strip(), json.loads(body))
    return out


def test_schema_provision_prints_the_requests_for_the_missing_columns(tmp_path: Path) -> None:
    values = {name: list(d.values) for name, d in load_dimensions(ROOT / "rules").items()}
    with SandboxServer("dynamics", accounts=5, mapping=MAPPING, rules_dir=ROOT / "rules", create_tags=False) as sb:
        cfg = write_sandbox_config(sb, tmp_path / "config.toml")
        r = crmseg("schema", "--config", str(cfg), "--provision", cwd=tmp_path, env=sb.env())
        assert r.returncode == 1 and "new_crmseg_segment" in r.stderr  # still missing: nothing was created
        assert "publisher" in r.stdout and "new_" in r.stdout
        steps = _bodies(r.stdout)
        attrs = f"POST {sb.url}/api/data/v9.2/EntityDefinitions(LogicalName='account')/Attributes"
        segment = steps["create the choice column new_crmseg_segment (segment)"]
        assert segment[0] == attrs
        assert segment[1]["@odata.type"] == "Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
        options = segment[1]["OptionSet"]["Options"]
        assert [o["Label"]["LocalizedLabels"][0]["Label"] for o in options] == values["segment"]
        assert [o["Value"] for o in options] == [OPTION_BASE + i for i in range(len(options))]
        score = steps["create the floating-point number column new_crmseg_icp_score (icp_score)"]
        assert score[1]["AttributeType"] == "Double" and score[1]["SchemaName"] == "new_crmseg_icp_score"
        pin = steps["create the yes/no column new_crmseg_pin (the pin)"]
        assert pin[1]["AttributeType"] == "Boolean" and pin[1]["DefaultValue"] is False
        assert list(steps)[-1] == "publish the account table's customizations"
        assert sb.stats()["calls"]["by_endpoint"].get("batch", 0) == 0  # nothing written

        r = crmseg("sync", "--config", str(cfg), "-q", cwd=tmp_path, env=sb.env())
        assert r.returncode == 2 and "--provision` prints the Web API requests" in r.stderr, r.stderr


def test_a_read_only_run_names_the_dynamics_way_to_create_missing_columns(tmp_path: Path) -> None:
    """An audit reads the missing tag columns as empty and says how to create them: the requests
    ``schema --provision`` prints, not another CRM's setup."""
    with SandboxServer("dynamics", accounts=5, mapping=MAPPING, rules_dir=ROOT / "rules", create_tags=False) as sb:
        cfg = write_sandbox_config(sb, tmp_path / "config.toml")
        r = crmseg("audit", "--config", str(cfg), "-q", cwd=tmp_path, env=sb.env())
        assert r.returncode == 0, r.stderr
        note = " ".join(r.stderr.split())  # the log may wrap
        assert "fields not found on account: new_crmseg_icp_score, new_crmseg_pin" in note, note
        assert f"Create them with the Web API requests `crmseg schema --config {cfg} --sync" in note
        assert "--provision` prints (or the same columns in the maker portal)" in note
        assert "Salesforce" not in r.stderr


def test_schema_provision_prints_nothing_when_the_columns_exist(tmp_path: Path) -> None:
    with SandboxServer("dynamics", accounts=5, mapping=MAPPING, rules_dir=ROOT / "rules") as sb:
        cfg = write_sandbox_config(sb, tmp_path / "config.toml")
        r = crmseg("schema", "--config", str(cfg), "--provision", cwd=tmp_path, env=sb.env())
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "mapping fits the CRM schema"


def test_a_choice_column_lacking_a_rule_label_gets_insert_option_value() -> None:
    have = SchemaField(
        "new_crmseg_tier",
        "Picklist",
        updateable=True,
        options=["Tier 1"],
        extra={"option_values": {"Tier 1": OPTION_BASE + 4}},
    )
    schema = {"new_crmseg_tier": have, "new_crmseg_pin": SchemaField("new_crmseg_pin", "Boolean", updateable=True)}
    out = "\n".join(
        provision_steps("https://x.crm.dynamics.com/api/data/v9.2", schema, MAPPING, {"tier": ["Tier 1", "Tier 2"]})
    )
    steps = _bodies(out)
    line, body = steps["add the option 'Tier 2' to new_crmseg_tier"]
    assert line == "POST https://x.crm.dynamics.com/api/data/v9.2/InsertOptionValue"
    assert body["Value"] == OPTION_BASE + 5 and body["AttributeLogicalName"] == "new_crmseg_tier"
    assert len(steps) == 2  # and the publish
    assert provision_steps("u", {**schema}, MAPPING, {"tier": ["Tier 1"]}) == []


def test_the_commented_dynamics_entry_of_config_example_is_a_valid_sync() -> None:
    import tomllib

    from crmseg.config import DynamicsSync

    block = (ROOT / "config.example.toml").read_text(encoding="utf-8").split("# [syncs.dynamics]")[1]
    text = "\n".join(line.removeprefix("# ") for line in block.strip().splitlines())
    sync = DynamicsSync(name="dynamics", **tomllib.loads(text))
    assert sync.mapping == "connectors/dynamics.toml" and sync.deals and sync.page_size == 5000
