"""Deals files (``--deals FILE``): strict reading with the account files' errors, and the sample."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType

import pytest

from crmseg.config import canonical_deals_mapping, load_mapping
from crmseg.connectors.deal_files import DealFile
from crmseg.connectors.files import FileConnector
from crmseg.deals import Deal
from crmseg.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
HEADER = "id,account_id,amount,currency,created_at,closed_at,status,stage,pipeline,type\n"
GOOD = "d1,acc-1,1200,USD,2026-01-05T10:00:00Z,2026-03-01,won,Closed Won,default,New Business\n"


def load_script(name: str) -> ModuleType:
    """scripts/NAME.py as a module (scripts/ is not a package)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        assert spec and spec.loader
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csv_row_becomes_a_deal(tmp_path: Path) -> None:
    [d] = DealFile(write(tmp_path, "d.csv", HEADER + GOOD)).read()
    assert d == Deal(
        id="d1",
        account_id="acc-1",
        amount=1200.0,
        currency="USD",
        created_at=datetime(2026, 1, 5, 10, tzinfo=UTC),
        closed_at=date(2026, 3, 1),
        status="won",
        stage="Closed Won",
        pipeline="default",
        type="New Business",
    )


def test_a_bad_amount_or_date_is_counted_like_an_account_field(tmp_path: Path) -> None:
    rows = "d2,acc-1,n/a,USD,2026-01-05,someday,lost,,,\nd3,,,,2026-01-06,,open,,,\n"
    f = DealFile(write(tmp_path, "d.csv", HEADER + GOOD + rows))
    deals = list(f.read())
    assert [(d.amount, d.closed_at, d.account_id) for d in deals[1:]] == [(None, None, "acc-1"), (None, None, None)]
    assert f.quality["amount"] == {"missing": 1, "invalid": 1}
    assert f.quality["closed_at"] == {"missing": 1, "invalid": 1}
    assert f.quality["account_id"] == {"missing": 1, "invalid": 0}


@pytest.mark.parametrize(
    "row, problem",
    [
        ("d2,acc-1,1,USD,not a date,,open,,,\n", r"d.csv:3: column 'created_at': not a datetime: 'not a date'"),
        ("d2,acc-1,1,USD,,,open,,,\n", r"d.csv:3: column 'created_at': no value"),
        ("d2,acc-1,1,USD,2026-01-01,,pending,,,\n", r"d.csv:3: column 'status': status 'pending' is not one of"),
        ("d2,acc-1,1,USD,2026-01-01,,,,,\n", r"d.csv:3: column 'status': no value"),
        (",acc-1,1,USD,2026-01-01,,open,,,\n", r"d.csv:3: no value in the id column 'id'"),
        ("d1,acc-1,1,USD,2026-01-01,,open,,,\n", r"d.csv:3: duplicate id 'd1' \(first on line 2\)"),
        ("d2,acc-1,1,USD,2026-01-01,,open\n", r"d.csv:3: 7 fields, the header has 10"),
        ('d2,acc-1,"1,USD,2026-01-01,,open,,,\n', r"d.csv:3: unbalanced quote"),
    ],
)
def test_csv_problems_name_file_line_and_column(tmp_path: Path, row: str, problem: str) -> None:
    f = DealFile(write(tmp_path, "d.csv", HEADER + GOOD + row))
    with pytest.raises(ConfigError, match=problem) as info:
        list(f.read())
    if "unbalanced" not in problem:  # a bad row, not a broken file: it can be skipped
        assert "--skip-bad-rows" in str(info.value)


def test_bad_rows_can_be_skipped_and_are_listed(tmp_path: Path) -> None:
    rows = "d2,acc-1,1,USD,yesterday,,open,,,\nd3,acc-2,5,USD,2026-02-01,,open,,,\n"
    f = DealFile(write(tmp_path, "d.csv", HEADER + GOOD + rows), on_bad_row="skip")
    assert [d.id for d in f.read()] == ["d1", "d3"]
    assert len(f.skipped) == 1 and "d.csv:3: column 'created_at'" in f.skipped[0]


@pytest.mark.parametrize(
    "header, problem",
    [
        ("id,account_id,created,status\n", r"d.csv:1: no column 'created_at' in the header — did you mean 'created'\?"),
        ("id,account_id,created_at\n", r"d.csv:1: no column 'status' in the header"),
        ("ID,created_at,status\n", r"d.csv:1: no id column 'id' in the header — did you mean 'ID'\?"),
    ],
)
def test_a_header_without_a_required_column_is_refused(tmp_path: Path, header: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        list(DealFile(write(tmp_path, "d.csv", header + "x,y,z\n")).read())


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"id": "d2", "created_at": "2026-01-01"}', r"d.jsonl:2: key 'status': no value"),
        ('{"id": "d2", "created_at": 5.5e99, "status": "open"}', r"d.jsonl:2: key 'created_at': not a datetime"),
        ('{"id": ["d2"], "created_at": "2026-01-01", "status": "open"}', r"d.jsonl:2: the id 'id' is a JSON list"),
        ('{"id": "d1", "created_at": "2026-01-01", "status": "open"}', r"d.jsonl:2: duplicate id 'd1'"),
        ('{"created_at": "2026-01-01", "status": "open"}', r"d.jsonl:2: no value in the id key 'id'"),
        ('{"id": "d2", "id": "d3"}', r"d.jsonl:2: duplicate key 'id' in the JSON object"),
        ("[1, 2]", r"d.jsonl:2: expected a JSON object, got list"),
        ("{oops", r"d.jsonl:2: malformed JSON"),
    ],
)
def test_jsonl_problems_name_file_line_and_key(tmp_path: Path, line: str, problem: str) -> None:
    first = '{"id": "d1", "account_id": "acc-1", "amount": 10, "created_at": "2026-01-01", "status": "won"}\n'
    with pytest.raises(ConfigError, match=problem):
        list(DealFile(write(tmp_path, "d.jsonl", first + line + "\n")).read())


def test_jsonl_numbers_and_ids_read_as_in_account_files(tmp_path: Path) -> None:
    line = '{"id": 7, "account_id": 42, "amount": 99.5, "created_at": 1767225600, "status": "Lost"}\n'
    [d] = DealFile(write(tmp_path, "d.jsonl", line)).read()
    assert (d.id, d.account_id, d.amount, d.created_at, d.status) == (
        "7",
        "42",
        99.5,
        datetime(2026, 1, 1, tzinfo=UTC),
        "lost",
    )


def test_file_problems_are_the_account_files_own(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.csv: file not found"):
        list(DealFile(tmp_path / "nope.csv").read())
    with pytest.raises(ConfigError, match=r"use \.csv or \.jsonl"):
        DealFile(tmp_path / "deals.txt")
    (tmp_path / "latin.csv").write_bytes((HEADER + "d1,acc-\xe9,1,USD,2026-01-01,,open,,,\n").encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin.csv:2: not utf-8 text"):
        list(DealFile(tmp_path / "latin.csv").read())
    assert [d.account_id for d in DealFile(tmp_path / "latin.csv", encoding="latin-1").read()] == ["acc-é"]


def test_a_mapping_renames_columns(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(
        '[deals]\n[deals.fields.id]\nsource = "Deal ID"\n[deals.fields.created_at]\nsource = "Created"\n'
        '[deals.status]\nclosed = "Closed?"\nwon = "Won?"\n'
    )
    mapping = load_mapping(tmp_path / "m.toml").deals
    path = write(tmp_path, "d.csv", "Deal ID;Created;Closed?;Won?\nA;2026-01-01;yes;no\nB;2026-01-02;no;\n")
    assert [(d.id, d.status) for d in DealFile(path, mapping=mapping).read()] == [("A", "lost"), ("B", "open")]


# ---------------------------------------------------------------- the sample
def test_the_shipped_csv_mapping_is_the_canonical_deals_mapping() -> None:
    assert load_mapping(ROOT / "connectors" / "csv.toml").deals == canonical_deals_mapping()


def test_sample_deals_regenerate_byte_identically(tmp_path: Path) -> None:
    out = tmp_path / "deals.csv"
    assert load_script("make_sample_deals").main(["--out", str(out)]) == 0
    assert out.read_bytes() == (ROOT / "examples" / "deals.csv").read_bytes(), (
        "examples/deals.csv is stale: run python scripts/make_sample_deals.py"
    )


def test_sample_deals_belong_to_the_sample_accounts_and_read_back() -> None:
    deals = list(DealFile(ROOT / "examples" / "deals.csv").read())
    accounts = {raw.id for raw in FileConnector(ROOT / "examples" / "accounts.csv").read()}
    owners = Counter("none" if not d.account_id else "sample" if d.account_id in accounts else "other" for d in deals)
    assert owners["none"] == 3 and owners["other"] == 2 and owners["sample"] == len(deals) - 5
    status = Counter(d.status for d in deals)
    assert status["won"] > 30 and status["lost"] > 30 and status["open"] > 30
    start, end = datetime(2025, 5, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)  # six quarters
    assert all(start <= d.created_at <= end for d in deals)
    assert all(d.closed_at is not None and d.closed_at >= d.created_at.date() for d in deals if d.closed)


def test_sample_deals_round_trip_through_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "deals.jsonl"
    assert load_script("make_sample_deals").main(["--out", str(out)]) == 0
    from_csv = DealFile(ROOT / "examples" / "deals.csv")
    from_jsonl = DealFile(out)
    assert list(from_jsonl.read()) == list(from_csv.read())
    assert from_jsonl.quality == from_csv.quality and from_csv.quality["amount"]["invalid"] >= 1
