"""The ``[deals]`` part of mapping files: shipped for every connector, validated like the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmseg.config import DEAL_FIELDS, load_mapping
from crmseg.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = '[deals]\n[deals.fields.id]\n[deals.fields.created_at]\n[deals.status]\nsource = "status"\n'


def mapping_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name, sources, status",
    [
        (
            "salesforce",
            {
                "id": "Id",
                "account_id": "AccountId",
                "amount": "Amount",
                "currency": "CurrencyIsoCode",
                "created_at": "CreatedDate",
                "closed_at": "CloseDate",
                "stage": "StageName",
                "type": "Type",
            },
            ("IsClosed", "IsWon"),
        ),
        (
            "hubspot",
            {
                "id": "hs_object_id",
                "account_id": "companies",
                "amount": "amount",
                "currency": "deal_currency_code",
                "created_at": "createdate",
                "closed_at": "closedate",
                "stage": "dealstage",
                "pipeline": "pipeline",
                "type": "dealtype",
            },
            ("hs_is_closed", "hs_is_closed_won"),
        ),
        ("csv", {name: name for name in DEAL_FIELDS}, None),
    ],
)
def test_shipped_mappings_map_the_canonical_deal_fields(
    name: str, sources: dict[str, str], status: tuple[str, str] | None
) -> None:
    deals = load_mapping(ROOT / "connectors" / f"{name}.toml").deals
    assert deals is not None
    assert {f: deals.source_of(f) for f in deals.fields} == sources
    assert deals.field_types() == {f: DEAL_FIELDS[f] for f in sources}
    assert (deals.status.closed, deals.status.won) == (status or (None, None))
    assert deals.status.source == (None if status else "status")


def test_hubspot_reads_the_company_association_and_the_home_currency_amount() -> None:
    deals = load_mapping(ROOT / "connectors" / "hubspot.toml").deals
    assert deals is not None and deals.object == "deals" and deals.modified_field == "hs_lastmodifieddate"
    assert deals.fields["account_id"].association == "companies"
    assert deals.fields["amount"].home_source == "amount_in_home_currency"


def test_salesforce_reads_opportunities_by_systemmodstamp() -> None:
    deals = load_mapping(ROOT / "connectors" / "salesforce.toml").deals
    assert deals is not None and deals.object == "Opportunity" and deals.modified_field == "SystemModstamp"
    assert "pipeline" not in deals.fields  # opportunities have none


def test_a_mapping_without_deals_stays_valid(tmp_path: Path) -> None:
    m = load_mapping(mapping_file(tmp_path, '[fields.name]\nsource = "Name"\n'))
    assert m.deals is None and m.fields["name"].source == "Name"


def test_a_minimal_deals_part(tmp_path: Path) -> None:
    deals = load_mapping(mapping_file(tmp_path, MINIMAL)).deals
    assert deals is not None and deals.read_fields() == ["id", "created_at", "status"]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("[deals]\n[deals.status]\nsource = 's'\n", r"m.toml: deals.fields: Field required"),
        (
            "[deals]\n[deals.fields.id]\n[deals.status]\nsource = 's'\n",
            r"m.toml: deals.fields: created_at is required",
        ),
        ("[deals]\n[deals.fields.id]\n[deals.fields.created_at]\n", r"m.toml: deals.status: Field required"),
        (
            MINIMAL.replace('source = "status"', 'closed = "IsClosed"'),
            r"m.toml: deals.status: needs won: the status comes from source .* or from closed and won",
        ),
        (
            MINIMAL + 'won = "IsWon"\n',
            r"m.toml: deals.status: give either source .* or closed and won .*, not both",
        ),
        (
            MINIMAL + '[deals.fields.amount]\ntype = "int"\n',
            r"m.toml: deals.fields: amount.type must be 'float' \(a canonical deal field's type is fixed\), not 'int'",
        ),
        (
            MINIMAL + '[deals.fields.stage]\nassociation = "companies"\n',
            r"m.toml: deals.fields: stage.association applies to account_id only",
        ),
        (
            MINIMAL + '[deals.fields.account_id]\nsource = "a"\nassociation = "companies"\n',
            r"m.toml: deals.fields: account_id: give source or association, not both",
        ),
        (
            MINIMAL + '[deals.fields.currency]\nhome_source = "x"\n',
            r"m.toml: deals.fields: currency.home_source applies to amount only",
        ),
        (MINIMAL + "[deals.fields.status]\n", r"m.toml: deals.fields: status is read through \[deals.status\]"),
        (MINIMAL + "[deals.fields.Probability]\n", r"canonical field name 'Probability' must match"),
        (
            MINIMAL + '[deals.fields.probability]\ntype = "decimal"\n',
            r"m.toml: deals.fields.probability.type: .*\(allowed: 'str', 'int', 'float'",
        ),
        (
            MINIMAL.replace("[deals]\n", '[deals]\nobjekt = "x"\n'),
            r"m.toml: deals.objekt: unknown key — did you mean 'object'\?",
        ),
        (
            MINIMAL.replace("[deals]\n", "[deals]\nzzz = 1\n"),
            r"m.toml: deals.zzz: unknown key \(allowed: object, modified_field, fields, status\)",
        ),
        (
            MINIMAL.replace("[deals.fields.id]\n", '[deals.fields.id]\nsorce = "Id"\n'),
            r"m.toml: deals.fields.id.sorce: unknown key — did you mean 'source'\?",
        ),
    ],
)
def test_deals_mapping_errors_name_the_file_and_the_key(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_mapping(mapping_file(tmp_path, text))


def test_every_problem_of_the_fields_is_listed_at_once(tmp_path: Path) -> None:
    text = MINIMAL + '[deals.fields.amount]\ntype = "str"\n[deals.fields.closed_at]\ntype = "datetime"\n'
    with pytest.raises(ConfigError) as info:
        load_mapping(mapping_file(tmp_path, text))
    assert "amount.type must be 'float'" in str(info.value) and "closed_at.type must be 'date'" in str(info.value)


def test_a_canonical_type_may_be_restated(tmp_path: Path) -> None:
    deals = load_mapping(mapping_file(tmp_path, MINIMAL + '[deals.fields.amount]\ntype = "float"\n')).deals
    assert deals is not None and deals.field_types()["amount"] == "float"
