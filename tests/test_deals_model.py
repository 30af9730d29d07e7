"""The canonical deal, its status from CRM flags, and mapped records -> deals (crmseg.deals)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from crmseg.config import load_mapping
from crmseg.deals import BadDeal, Deal, DealNormalizer, parse_status, status_from_flags
from crmseg.model import RawRecord

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- Deal
def test_a_deal_is_frozen_and_its_times_are_utc() -> None:
    d = Deal(id="1", created_at=datetime(2026, 1, 2, 3), status="won", closed_at=datetime(2026, 2, 1, 23, tzinfo=UTC))
    assert d.created_at == datetime(2026, 1, 2, 3, tzinfo=UTC) and d.closed_at == date(2026, 2, 1)
    assert d.closed and not Deal(id="2", created_at=d.created_at, status="open").closed
    with pytest.raises(AttributeError):
        d.amount = 5.0  # type: ignore[misc]  # frozen on purpose
    assert hash(d) == hash(Deal(id="1", created_at=d.created_at, status="won", closed_at=date(2026, 2, 1)))


@pytest.mark.parametrize("status", ["Won", "closed", ""])
def test_a_deal_refuses_an_unknown_status(status: str) -> None:
    with pytest.raises(ValueError, match="open, won, lost"):
        Deal(id="1", created_at=datetime(2026, 1, 1, tzinfo=UTC), status=status)  # type: ignore[arg-type]  # wrong on purpose


# ---------------------------------------------------------------- status
@pytest.mark.parametrize(
    "closed, won, status",
    [
        (False, False, "open"),  # Salesforce IsClosed / IsWon: JSON booleans
        (True, True, "won"),
        (True, False, "lost"),
        ("false", "false", "open"),  # HubSpot hs_is_closed / hs_is_closed_won: text
        ("true", "true", "won"),
        ("true", "false", "lost"),
        ("false", None, "open"),  # an open deal's won flag may be blank
        ("false", "", "open"),
        (" TRUE ", "False", "lost"),
    ],
)
def test_status_from_flags(closed: object, won: object, status: str) -> None:
    assert status_from_flags(closed, won) == status


@pytest.mark.parametrize(
    "closed, won, message",
    [(None, False, "closed: no value"), ("true", None, "won: no value"), ("maybe", False, "closed: not a boolean")],
)
def test_status_from_flags_refuses_what_it_cannot_tell(closed: object, won: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        status_from_flags(closed, won)


def test_parse_status() -> None:
    assert [parse_status(v) for v in ("open", " Won ", "LOST")] == ["open", "won", "lost"]
    with pytest.raises(ValueError, match="'closed won' is not one of open, won, lost"):
        parse_status("closed won")
    with pytest.raises(ValueError, match="no value"):
        parse_status(" ")


# ---------------------------------------------------------------- mapped records
def test_a_salesforce_opportunity_becomes_a_deal() -> None:
    n = DealNormalizer(load_mapping(ROOT / "connectors" / "salesforce.toml").deals)  # type: ignore[arg-type]  # shipped with [deals]
    raw = RawRecord(
        "006A",
        {
            "Id": "006A",
            "AccountId": "001X",
            "Amount": 12000.5,
            "CreatedDate": "2026-03-04T10:00:00.000+0000",
            "CloseDate": "2026-05-31",
            "StageName": "Closed Won",
            "Type": "New Customer",
            "IsClosed": True,
            "IsWon": True,
        },
    )
    d = n.deal(raw)
    assert d == Deal(
        id="006A",
        account_id="001X",
        amount=12000.5,
        created_at=datetime(2026, 3, 4, 10, tzinfo=UTC),
        closed_at=date(2026, 5, 31),
        status="won",
        stage="Closed Won",
        type="New Customer",
    )
    assert n.quality["currency"] == {"missing": 1, "invalid": 0}  # CurrencyIsoCode: multi-currency orgs only
    assert n.read_fields()[:3] == ["Id", "AccountId", "Amount"] and "IsWon" in n.read_fields()


def test_a_hubspot_deal_reads_its_company_and_the_home_currency_amount_when_multi_currency() -> None:
    deals = load_mapping(ROOT / "connectors" / "hubspot.toml").deals
    assert deals is not None
    raw = RawRecord(
        "9",
        {
            "hs_object_id": "9",
            "companies": "501",  # the primary company, as the connector puts it
            "amount": "1000",
            "amount_in_home_currency": "1100.0",
            "deal_currency_code": "eur",
            "createdate": "1767225600000",  # epoch milliseconds
            "closedate": "",
            "dealstage": "appointmentscheduled",
            "pipeline": "default",
            "hs_is_closed": "false",
            "hs_is_closed_won": "false",
        },
    )
    single, multi = DealNormalizer(deals).deal(raw), DealNormalizer(deals, multi_currency=True).deal(raw)
    assert single.amount == 1000.0 and multi.amount == 1100.0
    assert multi.account_id == "501" and multi.currency == "EUR" and multi.status == "open"
    assert multi.created_at == datetime(2026, 1, 1, tzinfo=UTC) and multi.closed_at is None
    assert "amount_in_home_currency" in DealNormalizer(deals, multi_currency=True).read_fields()
    assert "companies" not in DealNormalizer(deals).read_fields()  # associations are read apart


def test_optional_values_that_do_not_convert_are_counted_and_required_ones_refuse_the_deal() -> None:
    n = DealNormalizer(load_mapping(ROOT / "connectors" / "csv.toml").deals)  # type: ignore[arg-type]  # shipped with [deals]
    ok = {"created_at": "2026-01-01", "status": "open"}
    d = n.deal(RawRecord("1", {**ok, "amount": "n/a", "closed_at": "soon", "stage": "  "}))
    assert (d.amount, d.closed_at, d.stage) == (None, None, None)
    assert n.quality["amount"] == {"missing": 0, "invalid": 1} and n.quality["stage"]["missing"] == 1
    with pytest.raises(BadDeal, match="'created_at': not a datetime: 'yesterday'"):
        n.deal(RawRecord("2", {**ok, "created_at": "yesterday"}))
    with pytest.raises(BadDeal, match="'created_at': no value"):
        n.deal(RawRecord("3", {"status": "won"}))
    with pytest.raises(BadDeal, match="'status': status 'pending' is not one of"):
        n.deal(RawRecord("4", {**ok, "status": "pending"}))


def test_extra_mapped_fields_land_in_extra(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(
        '[deals]\n[deals.fields.id]\n[deals.fields.created_at]\n[deals.fields.probability]\ntype = "float"\n'
        '[deals.fields.forecast]\nsource = "ForecastCategory"\n[deals.status]\nsource = "status"\n'
    )
    n = DealNormalizer(load_mapping(tmp_path / "m.toml").deals)  # type: ignore[arg-type]  # written with [deals]
    d = n.deal(
        RawRecord(
            "1", {"created_at": "2026-01-01", "status": "open", "probability": "0.4", "ForecastCategory": "Pipeline"}
        )
    )
    assert d.extra == {"probability": 0.4, "forecast": "Pipeline"}


def test_deals_load_no_io_library() -> None:
    """crmseg.deals is pure: importing it pulls in no database, HTTP or CRM client."""
    code = (
        "import sys, crmseg.deals, crmseg.deals.attribution; "
        "bad = ('sqlite3', 'psycopg', 'requests', 'urllib3', 'simple_salesforce', 'hubspot', 'crmseg.connectors', "
        "'crmseg.state', 'crmseg.sync'); print([m for m in sys.modules if any(m == b or m.startswith(b + '.') "
        "for b in bad)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"
