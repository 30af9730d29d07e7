"""crmseg.dates: the one set of rules times are read with (CRM values, typed-in values, stored stamps)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmseg.dates import INVALID, parse_date, parse_datetime, parse_iso, to_date, to_datetime
from crmseg.state.store import iso

TEN = datetime(2026, 11, 1, 10, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 1, tzinfo=UTC)

# text -> what both parse_iso and to_datetime read it as (ISO 8601 text)
ISO_TEXTS = [
    ("2026-11-01T10:00:00Z", TEN),
    ("2026-11-01T10:00:00.000+0000", TEN),  # Salesforce
    ("2026-11-01T10:00:00.000Z", TEN),  # HubSpot
    ("2026-11-01T10:00:00.000000Z", TEN),  # a stored stamp (state.store.iso)
    ("2026-11-01T12:00:00+02:00", TEN),  # an offset: converted to UTC
    ("2026-11-01T05:00:00-0500", TEN),
    ("2026-11-01T10:00:00", TEN),  # naive = UTC
    ("2026-11-01 10:00", TEN),
    ("2026-11-01T10Z", TEN),
    ("20261101T1000", TEN),  # basic format
    ("  2026-11-01T10:00:00Z \n", TEN),  # blanks around
    ("2026-11-01T10:00:00.5Z", TEN + timedelta(milliseconds=500)),
    ("2026-11-01", MIDNIGHT),  # a date: midnight UTC
    ("20261101", MIDNIGHT),  # 8 digits: a basic ISO date, not epoch seconds
    ("2026-W44-7", MIDNIGHT),  # ISO week date
    ("2024-02-29", datetime(2024, 2, 29, tzinfo=UTC)),
]
BAD_TEXTS = [
    "",
    "   ",
    "x",
    "yesterday",
    "2026-13-01",
    "2026-02-30",
    "2026-11-01T25:00",
    "01/11/2026",
    "2026-11-01T10:00+25:00",
]
# CRM values only: epoch numbers, date and datetime objects
CRM_VALUES: list[tuple[Any, datetime]] = [
    ("1793527200", TEN),  # epoch seconds (9+ digits)
    ("1793527200000", TEN),  # HubSpot epoch milliseconds
    (1793527200, TEN),
    (1793527200000, TEN),
    (1793527200.5, TEN + timedelta(milliseconds=500)),
    (date(2026, 11, 1), MIDNIGHT),
    (datetime(2026, 11, 1, 10), TEN),  # naive = UTC
    (datetime(2026, 11, 1, 11, tzinfo=timezone(timedelta(hours=1))), TEN),
]


@pytest.mark.parametrize(("text", "want"), ISO_TEXTS)
def test_iso_text(text: str, want: datetime) -> None:
    for parse in (parse_iso, parse_datetime, to_datetime):
        got = parse(text)
        assert got == want and got.tzinfo is UTC, (parse, text, got)


@pytest.mark.parametrize(("value", "want"), CRM_VALUES)
def test_crm_values(value: Any, want: datetime) -> None:
    got = to_datetime(value)
    assert got == want and got is not None and got.tzinfo is UTC


@pytest.mark.parametrize("text", ["1793527200", "1793527200000"])
def test_typed_in_and_stored_values_are_iso_only(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso(text)


@pytest.mark.parametrize("text", BAD_TEXTS)
def test_bad_texts(text: str) -> None:
    for parse in (parse_iso, parse_datetime, parse_date):
        with pytest.raises(ValueError):
            parse(text)


@pytest.mark.parametrize("value", [True, None, [2026], object(), float("nan"), float("inf"), 10**30, "9" * 30])
def test_bad_crm_values(value: Any) -> None:
    with pytest.raises(INVALID):
        parse_datetime(value)


def test_blank_text_is_no_value() -> None:
    assert to_datetime("") is None and to_datetime("  ") is None and to_date(" ") is None
    with pytest.raises(ValueError, match="no value"):
        parse_datetime(" ")


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("2026-11-01", date(2026, 11, 1)),
        ("2026-11-01T23:30:00-05:00", date(2026, 11, 2)),  # a datetime's UTC day
        ("2026-11-01T10:00:00.000+0000", date(2026, 11, 1)),
        ("1793491200000", date(2026, 11, 1)),
        (date(2026, 11, 1), date(2026, 11, 1)),
        (datetime(2026, 11, 1, 23, tzinfo=timezone(timedelta(hours=-2))), date(2026, 11, 2)),
    ],
)
def test_dates(value: Any, want: date) -> None:
    got = parse_date(value)
    assert got == want and type(got) is date


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1),  # state.store.iso's strftime pads no year below 1000
        max_value=datetime(9998, 12, 31),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_iso_round_trips(when: datetime) -> None:
    """What crmseg writes (isoformat, the state store's stamps) reads back as the same instant."""
    assert parse_iso(when.isoformat()) == when
    assert parse_iso(iso(when)) == when
    assert parse_datetime(when.isoformat().replace("+00:00", "Z")) == when


def test_a_stamp_that_cannot_be_read_is_unknown_not_an_error() -> None:
    from crmseg.dates import stamp_or_none

    assert stamp_or_none("2026-11-01T10:00:00Z") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert stamp_or_none(1_700_000_000_000) == datetime.fromtimestamp(1_700_000_000, UTC)
    assert stamp_or_none(None) is None and stamp_or_none("") is None and stamp_or_none("not a date") is None
