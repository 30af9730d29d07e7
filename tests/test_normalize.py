"""Normalizer: type conversion, missing vs invalid, countries, synonyms, passthrough."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from crmseg.config import Mapping
from crmseg.errors import ConfigError
from crmseg.model import RawRecord
from crmseg.normalize.countries import to_alpha2
from crmseg.normalize.normalizer import Normalizer, parse_bool, parse_date, parse_datetime, parse_float, parse_int

UTC = UTC


def mapping(**fields: dict[str, Any]) -> Mapping:
    return Mapping.model_validate(
        {
            "id_field": "id",
            "modified_field": "updated_at",
            "pin_field": "crmseg_pin",
            "tag_field_pattern": "crmseg_{dimension}",
            "fields": fields,
            "path": "test.toml",
        }
    )


def one(field: dict[str, Any], value: Any) -> tuple[dict[str, Any], dict[str, int]]:
    """Normalize one value of a field named ``f``; the account and f's quality counts."""
    n = Normalizer(mapping(f=field))
    fields = {"id": "1"} if value is _ABSENT else {"id": "1", "f": value}
    acc = n.account(RawRecord("1", fields))
    return acc, n.quality["f"]


_ABSENT = object()


# ---------------------------------------------------------------- types
@pytest.mark.parametrize(
    "text, expected",
    [
        ("1200", 1200),
        (" 1200 ", 1200),
        ("1,200", 1200),
        ("1,234,567", 1234567),
        ("1200.0", 1200),
        ("1.2e3", 1200),
        ("-5", -5),
        ("+7", 7),
        (42, 42),
        (42.0, 42),
        ("0", 0),
    ],
)
def test_int_accepts(text: Any, expected: int) -> None:
    acc, q = one({"type": "int"}, text)
    assert acc["f"] == expected and type(acc["f"]) is int
    assert q == {"missing": 0, "invalid": 0}


@pytest.mark.parametrize("text", ["n/a", "twelve", "12.5", "1,20", "1.200,50", 12.5, True, "inf", "nan", "1e400"])
def test_int_rejects_as_invalid(text: Any) -> None:
    acc, q = one({"type": "int"}, text)
    assert "f" not in acc
    assert q == {"missing": 0, "invalid": 1}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1,200.50", 1200.5),
        ("1.5e6", 1_500_000.0),
        ("$3,000", 3000.0),
        ("€ 12.5", 12.5),
        ("-0.25", -0.25),
        ("7", 7.0),
        (7, 7.0),
        (2.5, 2.5),
    ],
)
def test_float_accepts(text: Any, expected: float) -> None:
    acc, _ = one({"type": "float"}, text)
    assert acc["f"] == expected and type(acc["f"]) is float


@pytest.mark.parametrize("text", ["$1.5M", "abc", "nan", "inf", "-Infinity", "1,5", False, float("nan")])
def test_float_rejects_as_invalid(text: Any) -> None:
    acc, q = one({"type": "float"}, text)
    assert "f" not in acc and q["invalid"] == 1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("y", True),
        ("1", True),
        (" t ", True),
        ("false", False),
        ("No", False),
        ("N", False),
        ("0", False),
        ("F", False),
        (True, True),
        (0, False),
    ],
)
def test_bool(text: Any, expected: bool) -> None:
    acc, _ = one({"type": "bool"}, text)
    assert acc["f"] is expected


@pytest.mark.parametrize("text", ["maybe", "2", 2, "si"])
def test_bool_invalid(text: Any) -> None:
    acc, q = one({"type": "bool"}, text)
    assert "f" not in acc and q["invalid"] == 1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-01T10:00:00Z", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        ("2026-11-01T10:00:00.000+0000", datetime(2026, 11, 1, 10, tzinfo=UTC)),  # Salesforce
        ("2026-11-01T12:00:00+02:00", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        ("2026-11-01T10:00:00", datetime(2026, 11, 1, 10, tzinfo=UTC)),  # naive -> UTC
        ("2026-11-01 10:00", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("1793527200000", datetime(2026, 11, 1, 10, tzinfo=UTC)),  # HubSpot epoch milliseconds
        ("1793527200", datetime(2026, 11, 1, 10, tzinfo=UTC)),  # epoch seconds
        (1793527200000, datetime(2026, 11, 1, 10, tzinfo=UTC)),
        (date(2026, 11, 1), datetime(2026, 11, 1, tzinfo=UTC)),
    ],
)
def test_datetime(text: Any, expected: datetime) -> None:
    acc, _ = one({"type": "datetime"}, text)
    assert acc["f"] == expected
    assert acc["f"].tzinfo is not None and acc["f"].utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-01", date(2026, 11, 1)),
        ("2026-11-01T23:30:00-05:00", date(2026, 11, 2)),
        ("1793491200000", date(2026, 11, 1)),
        (datetime(2026, 11, 1, 5), date(2026, 11, 1)),
    ],
)
def test_date(text: Any, expected: date) -> None:
    acc, _ = one({"type": "date"}, text)
    assert acc["f"] == expected and type(acc["f"]) is date


@pytest.mark.parametrize("kind", ["date", "datetime"])
@pytest.mark.parametrize("text", ["yesterday", "11/01/2026", "2026-13-01", "2026-02-30", "99999999999999999999"])
def test_dates_invalid(kind: str, text: str) -> None:
    acc, q = one({"type": kind}, text)
    assert "f" not in acc and q["invalid"] == 1


def test_list_splits_strips_drops_empties() -> None:
    acc, _ = one({"type": "list"}, " Salesforce ; Snowflake;;AWS ;Snowflake")
    assert acc["f"] == ("Salesforce", "Snowflake", "AWS")


def test_list_custom_separator_and_json_arrays() -> None:
    acc, _ = one({"type": "list", "separator": "|"}, "a | b|c")
    assert acc["f"] == ("a", "b", "c")
    acc, _ = one({"type": "list"}, ["x", " y ", "", None, 3])
    assert acc["f"] == ("x", "y", "3")


def test_list_of_only_separators_is_missing() -> None:
    acc, q = one({"type": "list"}, " ; ;")
    assert "f" not in acc and q == {"missing": 1, "invalid": 0}


def test_str_is_stripped_and_numbers_become_text() -> None:
    assert one({}, "  Acme Corp \n")[0]["f"] == "Acme Corp"
    assert one({}, 42)[0]["f"] == "42"


@pytest.mark.parametrize("normalize, expected", [("lower", "acme.com"), ("upper", "ACME.COM"), ("strip", "Acme.com")])
def test_text_normalizations(normalize: str, expected: str) -> None:
    assert one({"normalize": normalize}, " Acme.com ")[0]["f"] == expected


# ---------------------------------------------------------------- missing
@pytest.mark.parametrize("kind", ["str", "int", "float", "bool", "date", "datetime", "list"])
@pytest.mark.parametrize("value", [_ABSENT, None, "", "   ", "\t\n"])
def test_missing_values_are_left_out_and_counted(kind: str, value: Any) -> None:
    acc, q = one({"type": kind}, value)
    assert "f" not in acc
    assert q == {"missing": 1, "invalid": 0}


def test_quality_lists_every_declared_field_with_zero_counts() -> None:
    n = Normalizer(mapping(a={"type": "int"}, b={}, c={"type": "bool"}))
    n.account(RawRecord("1", {"id": "1", "a": "x", "b": "hello"}))
    n.account(RawRecord("2", {"id": "2", "a": "3", "b": "", "c": "yes"}))
    assert n.quality == {
        "a": {"missing": 0, "invalid": 1},
        "b": {"missing": 1, "invalid": 0},
        "c": {"missing": 1, "invalid": 0},
    }
    n.reset_quality()
    assert n.quality["a"] == {"missing": 0, "invalid": 0}


def test_account_always_holds_the_record_id() -> None:
    n = Normalizer(mapping(name={}))
    acc = n.account(RawRecord("001ABC", {"Id": "001ABC", "name": "Acme"}))
    assert acc == {"id": "001ABC", "name": "Acme"}


def test_source_names_map_to_canonical_names() -> None:
    n = Normalizer(mapping(employees={"source": "NumberOfEmployees", "type": "int"}))
    assert n.account(RawRecord("1", {"NumberOfEmployees": 250.0}))["employees"] == 250


# ---------------------------------------------------------------- countries
@pytest.mark.parametrize(
    "text, code",
    [
        ("USA", "US"),
        ("U.S.", "US"),
        ("U.S.A.", "US"),
        ("United States", "US"),
        ("us", "US"),
        ("United States of America", "US"),
        ("US of A", "US"),
        ("Germany", "DE"),
        ("DE", "DE"),
        ("Deutschland", "DE"),
        ("deu", "DE"),
        ("UK", "GB"),
        ("United Kingdom", "GB"),
        ("England", "GB"),
        ("Great Britain", "GB"),
        ("France", "FR"),
        ("Holland", "NL"),
        ("The Netherlands", "NL"),
        ("España", "ES"),
        ("Côte d'Ivoire", "CI"),
        ("South Korea", "KR"),
        ("Korea, Republic of", "KR"),
        ("Viet Nam", "VN"),
        ("Vietnam", "VN"),
        ("Czech Republic", "CZ"),
        ("Türkiye", "TR"),
        ("Turkey", "TR"),
        ("  brazil ", "BR"),
        ("Brasil", "BR"),
    ],
)
def test_country_spellings(text: str, code: str) -> None:
    assert to_alpha2(text) == code


@pytest.mark.parametrize("text", ["", "Unknown", "N/A", "Atlantis", "Untied States", "Europe"])
def test_unknown_countries(text: str) -> None:
    assert to_alpha2(text) is None


def test_country_normalization_counts_unknown_as_invalid() -> None:
    assert one({"normalize": "country"}, "U.S.A.")[0]["f"] == "US"
    acc, q = one({"normalize": "country"}, "Narnia")
    assert "f" not in acc and q == {"missing": 0, "invalid": 1}


def test_country_list_field() -> None:
    acc, _ = one({"type": "list", "normalize": "country"}, "USA; Deutschland;United States")
    assert acc["f"] == ("US", "DE")


# ---------------------------------------------------------------- synonyms
SYN = {"synonyms": {"Software": ["SaaS", "Computer Software"], "Financial Services": ["Fintech"]}}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("SaaS", "Software"),
        ("saas", "Software"),
        ("  COMPUTER   software ", "Software"),
        ("software", "Software"),
        ("Software", "Software"),
        ("fintech", "Financial Services"),
        ("Retail", "Retail"),  # not in the table: unchanged
    ],
)
def test_synonyms(text: str, expected: str) -> None:
    assert one(SYN, text)[0]["f"] == expected


def test_synonym_hit_is_final_before_normalization() -> None:
    field = {"normalize": "country", "synonyms": {"XK": ["Kosovo"]}}
    assert one(field, "kosovo")[0]["f"] == "XK"
    assert one(field, "Germany")[0]["f"] == "DE"


def test_synonyms_apply_to_list_items() -> None:
    acc, _ = one({"type": "list", "synonyms": {"Salesforce": ["SFDC"]}}, "SFDC;AWS;salesforce")
    assert acc["f"] == ("Salesforce", "AWS")


@pytest.mark.parametrize("field", [{"type": "int", "normalize": "country"}, {"type": "bool", "synonyms": {"a": ["b"]}}])
def test_normalization_on_a_typed_field_is_a_config_error(field: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"test.toml: fields.f: normalize and synonyms"):
        Normalizer(mapping(f=field))


# ---------------------------------------------------------------- passthrough
def test_passthrough_adds_undeclared_columns_as_text() -> None:
    n = Normalizer(mapping(employees={"type": "int"}, region={"source": "Region__c"}), passthrough=True)
    raw = RawRecord(
        "7",
        {
            "id": "7",
            "employees": "12",
            "Region__c": "EMEA",
            "partner_tier": " Gold ",
            "score": 5,
            "crmseg_segment": "SMB",
            "crmseg_pin": "true",
            "Bad Name": "x",
            "CamelCase": "x",
            "region": "ignored: a declared canonical name",
            "empty_col": "  ",
            "null_col": None,
        },
    )
    acc = n.account(raw)
    assert acc == {"id": "7", "employees": 12, "region": "EMEA", "partner_tier": "Gold", "score": "5"}


def test_passthrough_skips_reserved_names() -> None:
    n = Normalizer(mapping(), passthrough=True, reserved=["tier", "segment"])
    acc = n.account(RawRecord("1", {"id": "1", "tier": "Gold", "segment": "x", "region": "EMEA"}))
    assert acc == {"id": "1", "region": "EMEA"}
    assert n.field_types(["tier", "region"]) == {"id": "str", "region": "str"}


def test_passthrough_off_by_default() -> None:
    n = Normalizer(mapping(a={}))
    assert n.account(RawRecord("1", {"id": "1", "a": "x", "extra": "y"})) == {"id": "1", "a": "x"}


def test_field_types_include_passthrough_columns() -> None:
    n = Normalizer(mapping(employees={"type": "int"}), passthrough=True)
    types = n.field_types(["id", "employees", "partner_tier", "crmseg_tier", "Bad Col", "crmseg_pin"])
    assert types == {"id": "str", "employees": "int", "partner_tier": "str"}
    assert Normalizer(mapping(employees={"type": "int"})).field_types(["partner_tier"]) == {
        "id": "str",
        "employees": "int",
    }


# ---------------------------------------------------------------- fields, tags, pin
def test_read_fields_deduplicated_in_stable_order() -> None:
    m = Mapping.model_validate(
        {
            "id_field": "Id",
            "modified_field": "SystemModstamp",
            "pin_field": "Pin__c",
            "fields": {"id": {"source": "Id"}, "name": {"source": "Name"}, "updated_at": {"source": "SystemModstamp"}},
            "tags": {"segment": "Seg__c"},
            "tag_field_pattern": "Crmseg_{dimension}__c",
        }
    )
    assert Normalizer(m).read_fields(["segment", "tier", "segment"]) == [
        "Id",
        "SystemModstamp",
        "Pin__c",
        "Name",
        "Seg__c",
        "Crmseg_tier__c",
    ]


def test_current_tags_and_pin() -> None:
    n = Normalizer(mapping(a={}))
    raw = RawRecord("1", {"crmseg_segment": " SMB ", "crmseg_tier": "", "crmseg_icp_score": 42.0, "crmseg_pin": "Yes"})
    assert n.current_tags(raw, ["segment", "tier", "icp_score", "stage"]) == {
        "segment": "SMB",
        "tier": None,
        "icp_score": 42.0,
        "stage": None,
    }
    assert n.pinned(raw) is True
    for value in ("false", "", None, "garbage"):
        assert n.pinned(RawRecord("1", {"crmseg_pin": value})) is False
    no_pin = Normalizer(Mapping.model_validate({"fields": {}}))
    assert no_pin.pinned(raw) is False and no_pin.current_tags(raw, ["segment"]) == {"segment": None}


def test_run_started_defaults_to_now_utc() -> None:
    assert Normalizer(mapping()).run_started.tzinfo is not None
    fixed = Normalizer(mapping(), run_started=datetime(2026, 11, 1, 9))
    assert fixed.run_started == datetime(2026, 11, 1, 9, tzinfo=UTC)


# ---------------------------------------------------------------- public parsers
def test_public_parsers() -> None:
    assert parse_int("1,200") == 1200 and parse_float("1,200.50") == 1200.5
    assert parse_bool("Y") is True and parse_date("2026-11-01") == date(2026, 11, 1)
    assert parse_datetime("2026-11-01T10:00:00Z") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    for parse, bad in (
        (parse_int, "x"),
        (parse_float, "x"),
        (parse_bool, "x"),
        (parse_date, "x"),
        (parse_datetime, "x"),
    ):
        with pytest.raises(ValueError):
            parse(bad)
