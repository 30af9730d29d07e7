"""Shipped mappings, the sample generator and the shipped rules on the sample file."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from crmseg.config import Mapping, load_mapping
from crmseg.connectors.files import FileConnector
from crmseg.model import RawRecord
from crmseg.normalize.normalizer import Normalizer

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ["csv", "salesforce", "hubspot"]
DIMENSIONS = ["segment", "tier", "stage", "icp_score"]

#: The canonical fields sync.md requires every mapping to ship, with their types.
CANONICAL: dict[str, str] = {
    "id": "str",
    "name": "str",
    "domain": "str",
    "industry": "str",
    "employees": "int",
    "annual_revenue": "float",
    "country": "str",
    "state": "str",
    "city": "str",
    "type": "str",
    "owner": "str",
    "created_at": "datetime",
    "updated_at": "datetime",
    "tech_stack": "list",
    "intent_score": "float",
    "web_visits_30d": "int",
    "last_activity_at": "datetime",
    "open_opportunities": "int",
    "won_opportunities": "int",
    "is_customer": "bool",
    "customer_since": "date",
    "lifecycle_stage": "str",
}


def load_generator() -> ModuleType:
    """scripts/make_sample_accounts.py as a module (scripts/ is not a package)."""
    name = "make_sample_accounts"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        assert spec and spec.loader
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def shipped(name: str) -> Mapping:
    return load_mapping(ROOT / "connectors" / f"{name}.toml")


@pytest.mark.parametrize("name", MAPPINGS)
def test_mapping_loads_and_declares_every_canonical_field(name: str) -> None:
    m = shipped(name)
    assert m.field_types() | CANONICAL == m.field_types()  # every canonical field declared...
    assert {f: m.field_types()[f] for f in CANONICAL} == CANONICAL  # ...with the canonical type
    assert m.fields["country"].normalize == "country"
    assert m.fields["tech_stack"].separator == ";"
    assert m.modified_field and m.pin_field
    assert all(m.tag_field(d) for d in DIMENSIONS)
    Normalizer(m)  # converters build: no contradictory declarations


@pytest.mark.parametrize("name", MAPPINGS)
def test_mapping_starts_with_a_header_comment(name: str) -> None:
    head = (ROOT / "connectors" / f"{name}.toml").read_text(encoding="utf-8").splitlines()[:5]
    assert all(line.startswith("#") for line in head)


def test_salesforce_mapping() -> None:
    m = shipped("salesforce")
    assert (m.object, m.id_field, m.modified_field, m.pin_field) == ("Account", "Id", "SystemModstamp", "Crmseg_Pin__c")
    assert [m.tag_field(d) for d in DIMENSIONS] == [
        "Crmseg_Segment__c",
        "Crmseg_Tier__c",
        "Crmseg_Stage__c",
        "Crmseg_ICP_Score__c",
    ]
    assert m.source_of("country") == "BillingCountry" and m.source_of("tech_stack") == "Tech_Stack__c"
    raw = RawRecord(
        "001A",
        {
            "Id": "001A",
            "Industry": "Technology",
            "NumberOfEmployees": 1200,
            "AnnualRevenue": 3.5e7,
            "BillingCountry": "United States",
            "Tech_Stack__c": "Salesforce;Snowflake",
            "Is_Customer__c": True,
            "CreatedDate": "2026-01-05T10:00:00.000+0000",
            "Last_Activity_At__c": "2026-10-01T08:30:00.000+0000",
        },
    )
    acc = Normalizer(m).account(raw)
    assert acc["industry"] == "Software" and acc["employees"] == 1200 and acc["country"] == "US"
    assert acc["tech_stack"] == ("Salesforce", "Snowflake") and acc["is_customer"] is True
    assert acc["created_at"] == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert acc["last_activity_at"] == datetime(2026, 10, 1, 8, 30, tzinfo=UTC)


def test_hubspot_mapping() -> None:
    m = shipped("hubspot")
    assert (m.object, m.id_field, m.modified_field) == ("companies", "hs_object_id", "hs_lastmodifieddate")
    assert [m.tag_field(d) for d in DIMENSIONS] == [f"crmseg_{d}" for d in DIMENSIONS]
    raw = RawRecord(
        "42",
        {
            "hs_object_id": "42",
            "industry": "COMPUTER_SOFTWARE",
            "numberofemployees": "250",
            "annualrevenue": "1000000.5",
            "country": "Germany",
            "createdate": "2026-01-05T10:00:00Z",
            "hs_lastmodifieddate": "1793527200000",
            "is_customer": "false",
            "tech_stack": "HubSpot;AWS",
        },
    )
    acc = Normalizer(m).account(raw)
    assert acc["industry"] == "Software" and acc["employees"] == 250 and acc["country"] == "DE"
    assert acc["updated_at"] == datetime(2026, 11, 1, 10, tzinfo=UTC) and acc["is_customer"] is False


@pytest.mark.parametrize("variant", ["SaaS", "software", "Computer Software", "Software"])
def test_csv_industry_synonyms(variant: str) -> None:
    n = Normalizer(shipped("csv"))
    assert n.account(RawRecord("1", {"industry": variant}))["industry"] == "Software"


# ---------------------------------------------------------------- the sample generator
def test_sample_file_regenerates_byte_identically(tmp_path: Path) -> None:
    gen = load_generator()
    out = tmp_path / "accounts.csv"
    assert gen.main(["--out", str(out)]) == 0
    assert out.read_bytes() == (ROOT / "examples" / "accounts.csv").read_bytes(), (
        "examples/accounts.csv is stale: run python scripts/make_sample_accounts.py"
    )


def test_generate_streams_deterministically() -> None:
    gen = load_generator()
    assert inspect.isgenerator(gen.generate(10, 1))
    first = list(gen.generate(300, 9))
    assert first == list(gen.generate(300, 9)) and first != list(gen.generate(300, 10))
    assert all(tuple(row) == gen.COLUMNS for row in first)
    assert len({row["id"] for row in first}) == 300


def test_sample_is_messy_like_a_real_export() -> None:
    rows = list(load_generator().generate(400))
    values = {
        c: Counter(r[c] for r in rows) for c in ("industry", "country", "employees", "crmseg_pin", "crmseg_segment")
    }
    assert {"SaaS", "software", "Computer Software", "Fintech", ""} <= set(values["industry"])
    assert {"USA", "U.S.", "United States", "us", "Deutschland", "UK", ""} <= set(values["country"])
    assert "" in values["employees"] and any("," in e for e in values["employees"])
    assert 0 < values["crmseg_pin"]["true"] < 40
    assert 0 < values["crmseg_segment"][""] < 400


# ---------------------------------------------------------------- shipped rules on the sample
def test_shipped_rules_give_a_sensible_distribution_on_the_sample() -> None:
    loader = pytest.importorskip("crmseg.rules.loader")
    engines = pytest.importorskip("crmseg.rules.engines")
    m = shipped("csv")
    n = Normalizer(m, passthrough=True)
    fc = FileConnector(ROOT / "examples" / "accounts.csv", mapping=m)
    rules = loader.load_rules(ROOT / "rules", n.field_types(fc.columns()))
    engine = engines.make_engine("native", rules, datetime(2026, 11, 1, tzinfo=UTC))
    counts: dict[str, Counter[object]] = {d: Counter() for d in ("segment", "tier", "stage")}
    total = 0
    for raw in fc.read(n.read_fields(rules.names)):
        result = engine.evaluate(n.account(raw))
        total += 1
        for dim, c in counts.items():
            c[result[dim].value] += 1
    share = {dim: {k: v / total for k, v in c.items()} for dim, c in counts.items()}
    assert set(share["segment"]) == {"Enterprise", "Digital Native", "Mid-Market", "SMB", "Unsegmented"}
    assert all(0.05 <= s <= 0.60 for s in share["segment"].values()), share["segment"]
    assert share["segment"]["Unsegmented"] < 0.15
    assert 0.10 <= share["tier"]["Tier 1"] <= 0.20 and 0.25 <= share["tier"]["Tier 2"] <= 0.45
    assert 0.40 <= share["tier"]["Tier 3"] <= 0.60
    assert len(share["stage"]) == 8 and share["stage"].get(None, 0) < 0.10  # 7 stages + no stage


@pytest.mark.parametrize("name", MAPPINGS)
def test_shipped_rules_type_check_against_every_mapping(name: str) -> None:
    loader = pytest.importorskip("crmseg.rules.loader")
    rules = loader.load_rules(ROOT / "rules", Normalizer(shipped(name)).field_types())
    assert set(rules.names) == set(DIMENSIONS)
    assert rules.names.index("icp_score") < rules.names.index("tier")
