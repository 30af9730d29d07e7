"""The generated ``Normalizer.account`` equals the per-field converters, counts included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from crmseg.config import Mapping
from crmseg.model import RawRecord
from crmseg.normalize import Normalizer
from crmseg.normalize_codegen import INVALID

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


def reference(n: Normalizer, raw: RawRecord, missing: list[int], invalid: list[int]) -> dict[str, Any]:
    """The plain per-field loop the generated code replaces."""
    acc: dict[str, Any] = {}
    for i, name, src, conv in n._plan:
        v = raw.fields.get(src)
        if v is None:
            missing[i] += 1
            continue
        try:
            out = conv(v)
        except INVALID:
            invalid[i] += 1
            continue
        if out is None:
            missing[i] += 1
        else:
            acc[name] = out
    extra = raw.fields.get("extra_col")  # passthrough: an undeclared column as text
    if extra is not None and str(extra).strip():
        acc["extra_col"] = str(extra).strip()
    acc["id"] = raw.id
    return acc


@given(rows=st.lists(st.fixed_dictionaries({}, optional=dict.fromkeys(COLUMNS, VALUES)), min_size=1, max_size=12))
def test_generated_account_equals_the_converters(rows: list[dict[str, Any]]) -> None:
    n = Normalizer(mapping(), passthrough=True)
    missing, invalid = [0] * len(n._plan), [0] * len(n._plan)
    for row in rows * 2:  # twice: remembered texts give what the converter gave
        raw = RawRecord("r1", row)
        want = reference(n, raw, missing, invalid)
        got = n.account(raw)
        assert got == want and [type(v) for v in got.values()] == [type(v) for v in want.values()], row
    assert n.quality == {name: {"missing": missing[i], "invalid": invalid[i]} for i, name, _, _ in n._plan}
    n.reset_quality()
    assert all(q == {"missing": 0, "invalid": 0} for q in n.quality.values())
    n.account(RawRecord("r2", {}))
    assert all(q["missing"] == 1 for q in n.quality.values())  # counting goes on after a reset


@given(value=VALUES)
def test_pinned_matches_the_bool_converter(value: Any) -> None:
    n = Normalizer(mapping())
    raw = RawRecord("r1", {"crmseg_pin": value})
    try:
        from crmseg.normalize import parse_bool

        want = parse_bool(value)
    except (ValueError, TypeError):
        want = False
    assert n.pinned(raw) is want
