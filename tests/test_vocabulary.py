"""One vocabulary for every source (issue 10, point 1).

The shipped mappings take their synonym tables from ``connectors/vocabulary.toml``; a mapping
may extend it but not contradict it. The four-source test seeds one account per synonym
variant into a CSV file and the Salesforce, HubSpot, Dynamics 365 and Zoho CRM sandboxes and checks
that all of them give identical canonical values and identical tags with the shipped mappings and rules.
"""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmseg.audit.plan import Plan, plan_config, plan_source, read_records
from crmseg.config import load_mapping
from crmseg.config.vocabulary import load_vocabulary
from crmseg.errors import ConfigError
from crmseg.model import RawRecord
from crmseg.normalize.normalizer import Normalizer
from crmseg.rules.engines import make_engine
from crmseg.sandbox import SandboxServer
from crmseg.sandbox.cli import write_sandbox_config

ROOT = Path(__file__).resolve().parents[1]
VOCAB = load_vocabulary(ROOT / "connectors" / "vocabulary.toml")
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
COMPARED = ("industry", "tech_stack", "country", "employees", "intent_score", "last_activity_at")


def _accounts() -> list[dict[str, str]]:
    """One account per industry spelling (canonical and variants, also upper-cased) and per tech spelling."""
    industries = [s for c, vs in VOCAB["industry"].items() for s in (c, *vs)]
    industries += [s.upper() for s in industries[:5]]
    techs = [s for c, vs in VOCAB["tech_stack"].items() for s in (c, *vs)]
    out = []
    for i, ind in enumerate(industries):
        out.append(
            {
                "id": f"v-{i:04d}",
                "name": f"Vocab {i}",
                "industry": ind,
                "tech_stack": ";".join([techs[i % len(techs)], techs[(i * 7 + 3) % len(techs)], "Snowflake"]),
                "country": ["USA", "Germany", "U.K.", "FR"][i % 4],
                "employees": str([40, 150, 900, 6000][i % 4]),
                "annual_revenue": str([1e6, 3e7, 2e8, 9e8][(i // 4) % 4]),
                "intent_score": str((i * 13) % 100),
                "web_visits_30d": str(i % 30),
                "last_activity_at": f"2026-10-{1 + i % 28:02d}T10:00:00Z",
                "lifecycle_stage": ["lead", "opportunity", "customer"][i % 3],
                "is_customer": "true" if i % 3 == 2 else "false",
            }
        )
    return out


def _evaluate(plan: Plan, ids: dict[str, str]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """seed id -> (canonical values compared, tags) for every record the plan reads."""
    engine = make_engine("native", plan.rules, NOW)
    out = {}
    try:
        for raw in read_records(plan):
            acc = plan.normalizer.account(raw)
            tags = {d: r.value for d, r in engine.evaluate(acc).items()}
            out[ids.get(raw.id, raw.id)] = ({k: acc.get(k) for k in COMPARED}, tags)
    finally:
        engine.close()
        plan.connector.close()
    return out


def _csv_source(tmp: Path, rows: list[dict[str, str]]) -> dict[str, Any]:
    path = tmp / "accounts.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return _evaluate(plan_source(path, ROOT / "rules", ROOT / "connectors" / "csv.toml", "native", NOW), {})


def _crm_source(tmp: Path, crm: str, rows: list[dict[str, str]]) -> dict[str, Any]:
    with SandboxServer(crm, accounts=rows, mapping=ROOT / "connectors" / f"{crm}.toml", rules_dir=ROOT / "rules") as sb:
        config = write_sandbox_config(sb, tmp / f"{crm}.toml")
        plan = plan_config(config, None, "native", now=NOW, env=sb.env())
        return _evaluate(plan, {crm_id: seed for seed, crm_id in sb.id_map.items()})


def test_every_synonym_variant_gives_identical_values_and_tags_from_csv_salesforce_hubspot_and_dynamics(
    tmp_path: Path,
) -> None:
    rows = _accounts()
    from_csv = _csv_source(tmp_path, rows)
    assert len(from_csv) == len(rows)
    canon = set(VOCAB["industry"])
    assert {vals["industry"] for vals, _ in from_csv.values()} == canon  # every variant folds
    for crm in ("salesforce", "hubspot", "dynamics"):
        from_crm = _crm_source(tmp_path, crm, rows)
        assert from_crm.keys() == from_csv.keys()
        for seed, (vals, tags) in from_csv.items():
            assert from_crm[seed][0] == vals, f"{crm}: {seed} canonical values differ"
            assert from_crm[seed][1] == tags, f"{crm}: {seed} tags differ"


@pytest.mark.parametrize("name", ["csv", "salesforce", "hubspot", "dynamics", "zoho"])
def test_shipped_mappings_share_the_vocabulary(name: str) -> None:
    m = load_mapping(ROOT / "connectors" / f"{name}.toml")
    assert m.vocabulary == "vocabulary.toml"
    assert m.fields["industry"].synonyms == VOCAB["industry"]
    assert m.fields["tech_stack"].synonyms == VOCAB["tech_stack"]
    n = Normalizer(m)
    assert n.account(RawRecord("1", {m.source_of("industry"): "Biotechnology"}))["industry"] == "Healthcare"


def test_every_synonym_variant_gives_identical_values_and_tags_from_csv_and_zoho(tmp_path: Path) -> None:
    """Zoho keeps times in the org's time zone, multi-select pick lists as lists and the owner as
    a lookup: the same accounts still give the same canonical values and tags as the CSV."""
    rows = _accounts()
    from_csv = _csv_source(tmp_path, rows)
    from_zoho = _crm_source(tmp_path, "zoho", rows)
    assert from_zoho.keys() == from_csv.keys()
    for seed, (vals, tags) in from_csv.items():
        assert from_zoho[seed][0] == vals, f"zoho: {seed} canonical values differ"
        assert from_zoho[seed][1] == tags, f"zoho: {seed} tags differ"


#: Dynamics 365's default industrycode labels and the canonical value each folds into (None:
#: no canonical value fits; the label reaches the rules as it is).
DYNAMICS_INDUSTRY = {
    "Accounting": "Professional Services",
    "Brokers": "Financial Services",
    "Building Supply Retail": "Retail",
    "Business Services": "Professional Services",
    "Consulting": "Professional Services",
    "Design, Direction and Creative Management": "Professional Services",
    "Distributors, Dispatchers and Processors": "Logistics",
    "Doctor's Offices and Clinics": "Healthcare",
    "Durable Manufacturing": "Manufacturing",
    "Eating and Drinking Places": "Retail",
    "Entertainment Retail": "Retail",
    "Financial": "Financial Services",
    "Food and Tobacco Processing": "Manufacturing",
    "Insurance": "Financial Services",
    "Legal Services": "Professional Services",
    "Non-Durable Merchandise Retail": "Retail",
    "Service Retail": "Retail",
    "Transportation": "Logistics",
    "Vehicle Retail": "Retail",
}


def test_dynamics_default_industry_labels_fold_into_the_vocabulary() -> None:
    from crmseg.sandbox.dynamics_schema import INDUSTRY_OPTIONS

    n = Normalizer(load_mapping(ROOT / "connectors" / "dynamics.toml"))
    got = {label: n.account(RawRecord("1", {"industrycode": label}))["industry"] for label in INDUSTRY_OPTIONS}
    assert {k: v for k, v in got.items() if v != k} == DYNAMICS_INDUSTRY
    assert set(DYNAMICS_INDUSTRY) <= set(INDUSTRY_OPTIONS)  # the sandbox ships Microsoft's defaults


def test_the_same_account_from_a_file_and_dynamics_default_labels_gets_the_same_tags(tmp_path: Path) -> None:
    rows = [{**row, "industry": label} for row, label in zip(_accounts(), DYNAMICS_INDUSTRY, strict=False)]
    canonical = [{**row, "industry": DYNAMICS_INDUSTRY[row["industry"]]} for row in rows]
    from_csv = _csv_source(tmp_path, canonical)
    from_dynamics = _crm_source(tmp_path, "dynamics", rows)
    assert from_dynamics == from_csv


def _mapping(tmp: Path, body: str, vocab: str = '[industry]\n"Software" = ["SaaS"]\n') -> Path:
    (tmp / "vocabulary.toml").write_text(vocab, encoding="utf-8")
    path = tmp / "m.toml"
    path.write_text('vocabulary = "vocabulary.toml"\n[fields.industry]\n' + body, encoding="utf-8")
    return path


def test_a_mapping_extends_the_vocabulary(tmp_path: Path) -> None:
    m = load_mapping(
        _mapping(tmp_path, '[fields.industry.synonyms]\n"Software" = ["Apps"]\n"Energy" = ["Oil & Gas"]\n')
    )
    assert m.fields["industry"].synonyms == {"Software": ["SaaS", "Apps"], "Energy": ["Oil & Gas"]}
    n = Normalizer(m)
    assert [n.account(RawRecord("1", {"industry": v}))["industry"] for v in ("saas", "apps", "oil & gas")] == [
        "Software",
        "Software",
        "Energy",
    ]


def test_a_mapping_may_not_contradict_the_vocabulary(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"m.toml: fields.industry.synonyms .*'SaaS' is a synonym of both 'Software' and 'Apps'"
    ):
        load_mapping(_mapping(tmp_path, '[fields.industry.synonyms]\n"Apps" = ["SaaS"]\n'))


def test_vocabulary_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"vocabulary.toml: \[industry\] must hold"):
        load_mapping(_mapping(tmp_path, "", vocab="[industry]\nSoftware = 3\n"))
    (tmp_path / "x.toml").write_text('vocabulary = "nope.toml"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"nope.toml: vocabulary file not found .*copy connectors/vocabulary.toml"):
        load_mapping(tmp_path / "x.toml")


def test_a_vocabulary_edit_changes_the_rules_fingerprint(tmp_path: Path) -> None:
    from crmseg.sync.fingerprint import rules_fingerprint

    (tmp_path / "rules").mkdir()
    path = _mapping(tmp_path, "")
    before = rules_fingerprint(tmp_path / "rules", path)
    (tmp_path / "vocabulary.toml").write_text('[industry]\n"Software" = ["SaaS", "Apps"]\n', encoding="utf-8")
    assert rules_fingerprint(tmp_path / "rules", path) != before


def test_a_copied_shipped_mapping_still_finds_the_shipped_vocabulary(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "my-salesforce.toml"
    copy.parent.mkdir()
    shutil.copy(ROOT / "connectors" / "salesforce.toml", copy)
    assert load_mapping(copy).fields["industry"].synonyms == VOCAB["industry"]


#: Zoho CRM's default Industry values that fold into a canonical value (the rest pass through).
ZOHO_INDUSTRY = {
    "ASP (Application Service Provider)": "Software",
    "ERP (Enterprise Resource Planning)": "Software",
    "ManagementISV": "Software",
    "Non-management ISV": "Software",
    "MSP (Management Service Provider)": "Software",
    "Systems Integrator": "Software",
    "Technology": "Software",
}


def test_zoho_default_industry_values_fold_into_the_vocabulary() -> None:
    from crmseg.sandbox.zoho_schema import INDUSTRY_VALUES

    n = Normalizer(load_mapping(ROOT / "connectors" / "zoho.toml"))
    got = {label: n.account(RawRecord("1", {"Industry": label}))["industry"] for label in INDUSTRY_VALUES}
    assert {k: v for k, v in got.items() if v != k} == ZOHO_INDUSTRY
