"""The generated ``Normalizer.account`` equals the plain reference loop over the per-field
converters (``Normalizer(codegen=False)``), counts included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from crmseg.config import Mapping
from crmseg.model import RawRecord
from crmseg.normalize.normalizer import Normalizer

FIELDS = {
    "t": {},
    "lo": {"normalize": "lower"},
    "up": {"normalize": "upper"},
    "c": {"normalize": "country"},
    "syn": {"synonyms": {"Software": ["SaaS", "Tech"]}},
    "i": {"type": "int"},
    "x": {"type": "float"},
    "b": {"type": "bool"},
    "d": {"type": "date"},
    "dt": {"type": "datetime"},
    "l": {"type": "list", "synonyms": {"Salesforce": ["SFDC"]}},
    "src": {"source": "Other_Column"},
}
TEXTS = [
    "",
    " ",
    "5",
    " 5 ",
    "1,200",
    "1,20",
    "1_000",
    "n/a",
    "2.5",
    "1e3",
    "nan",
    "inf",
    "$3,000",
    "true",
    "Yes",
    "no",
    "0",
    "us",
    "U.S.",
    "Germany",
    "Narnia",
    "saas",
    " Tech ",
    "SFDC;Snowflake",
    "a;;b; a",
    "2026-10-30",
    "2026-10-30T11:18:18Z",
    "2026-10-30T11:18:18+02:00",
    "2026-10-30T11:18:18",
    "1700000000",
    "20261101",
    "2026-13-01",
    "日本",
    "2026-10-30 11:18",
    "20261101T1118",
    "2026-10-30T11:18:18.123",
    " 2026-10-30",
    "202611011",
    "2026-W44-5",
    "2026-10-30T11:18:18-05:00",
]
OTHERS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(date(2026, 1, 2)),
    st.just(datetime(2026, 1, 2, 3, tzinfo=UTC)),
    st.just(["a", " SFDC ", ""]),
    st.just(()),
)
VALUES = st.one_of(st.sampled_from(TEXTS), st.sampled_from(TEXTS), OTHERS, st.text(max_size=6))
COLUMNS = [*FIELDS, "Other_Column", "extra_col", "crmseg_pin"]


def mapping() -> Mapping:
    return Mapping.model_validate(
        {
            "id_field": "id",
            "pin_field": "crmseg_pin",
            "tag_field_pattern": "crmseg_{dimension}",
            "fields": FIELDS,
            "path": "test.toml",
        }
    )


def _same(got: dict[str, Any], want: dict[str, Any]) -> bool:
    """Equal accounts, each value of the same type (1 and 1.0, True and 1 are equal in Python)."""
    return got == want and [type(v) for v in got.values()] == [type(v) for v in want.values()]


def test_plain_reference_is_the_converters_loop() -> None:
    """The reference itself, on hand-picked values: converted, missing and invalid as documented."""
    n = Normalizer(mapping(), passthrough=True, codegen=False)
    raw = RawRecord("r1", {"i": "1,200", "x": "n/a", "b": " ", "d": "2026-10-30", "t": " a ", "extra_col": " e "})
    assert n.account(raw) == {"i": 1200, "d": date(2026, 10, 30), "t": "a", "extra_col": "e", "id": "r1"}
    assert n.quality["x"] == {"missing": 0, "invalid": 1}
    assert n.quality["b"] == {"missing": 1, "invalid": 0}
    assert n.quality["lo"] == {"missing": 1, "invalid": 0}
    row = n.row_account_of(["i", "c"], {"c": 1, "i": 0})
    assert row("r2", ["7", "Narnia"]) == {"i": 7, "id": "r2"}
    assert n.quality["c"] == {"missing": 1, "invalid": 1}  # missing from r1, invalid in r2


@given(rows=st.lists(st.fixed_dictionaries({}, optional=dict.fromkeys(COLUMNS, VALUES)), min_size=1, max_size=12))
def test_generated_account_equals_the_plain_reference(rows: list[dict[str, Any]]) -> None:
    gen = Normalizer(mapping(), passthrough=True)
    ref = Normalizer(mapping(), passthrough=True, codegen=False)
    for row in rows * 2:  # twice: remembered texts give what the converter gave
        raw = RawRecord("r1", row)
        got, want = gen.account(raw), ref.account(raw)
        assert _same(got, want), row
    assert gen.quality == ref.quality
    gen.reset_quality()
    assert all(q == {"missing": 0, "invalid": 0} for q in gen.quality.values())
    gen.account(RawRecord("r2", {}))
    assert all(q["missing"] == 1 for q in gen.quality.values())  # counting goes on after a reset


@given(
    rows=st.lists(
        st.lists(st.one_of(st.sampled_from(TEXTS), st.text(max_size=6)), min_size=8, max_size=8), max_size=12
    ),
    header=st.lists(st.sampled_from(COLUMNS), min_size=8, max_size=8),
    fields=st.sets(st.sampled_from(list(FIELDS))),
)
def test_generated_restricted_and_row_accounts_equal_the_plain_reference(
    rows: list[list[str]], header: list[str], fields: set[str]
) -> None:
    """``account_of`` (records) and ``row_account_of`` (CSV rows as lists, a repeated column name
    read at its last position, an absent one as None) against the reference."""
    gen = Normalizer(mapping(), passthrough=True)
    ref = Normalizer(mapping(), passthrough=True, codegen=False)
    columns = {name: i for i, name in enumerate(header)}
    for i, row in enumerate(rows):
        raw = RawRecord(f"r{i}", {name: row[pos] for name, pos in columns.items()})
        assert _same(gen.account_of(fields)(raw), ref.account_of(fields)(raw)), (fields, raw)
    assert gen.quality == ref.quality
    gen, ref = Normalizer(mapping()), Normalizer(mapping(), codegen=False)
    gen_row, ref_row = gen.row_account_of(fields, columns), ref.row_account_of(fields, columns)
    for i, row in enumerate(rows):
        assert _same(gen_row(f"r{i}", row), ref_row(f"r{i}", row)), (fields, columns, row)
    assert gen.quality == ref.quality


@given(value=VALUES)
def test_pinned_matches_the_bool_converter(value: Any) -> None:
    n = Normalizer(mapping())
    raw = RawRecord("r1", {"crmseg_pin": value})
    try:
        from crmseg.normalize.normalizer import parse_bool

        want = parse_bool(value)
    except (ValueError, TypeError):
        want = False
    assert n.pinned(raw) is want
