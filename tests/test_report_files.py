"""JSON and CSV audit files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from crmseg.audit.summary import AuditSummary
from crmseg.model import DimResult
from crmseg.report.files import CsvWriter, safe_cell, write_json
from tests.dims import Dim

DIMS = [
    Dim("segment", rule_names=["ent", "smb"]),
    Dim("icp_score", kind="score", rule_names=["fit", "intent"]),
]


def test_write_json_round_trip(tmp_path: Path) -> None:
    s = AuditSummary(DIMS, ["employees"])
    results = {"segment": DimResult("Entérprise", ("ent",)), "icp_score": DimResult(40.0, ("fit", "intent"))}
    s.add("1", results, {"segment": "SMB"})
    s.metadata["source"] = tmp_path / "in.csv"
    s.finish({"employees": {"missing": 0, "invalid": 1}})
    out = tmp_path / "sub" / "audit.json"
    write_json(s, out)
    doc = json.loads(out.read_text("utf-8"))
    assert doc == json.loads(json.dumps(s.to_json(), default=str))
    assert doc["dimensions"]["segment"]["counts"]["Entérprise"] == 1
    assert doc["dimensions"]["icp_score"]["counts"]["40"] == 1
    assert doc["changes"]["segment"]["changed"] == 1
    assert "Entérprise" in out.read_text("utf-8")  # UTF-8, not \u escapes
    assert not list(out.parent.glob(".*tmp"))


def test_csv_header_and_rows(tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    with CsvWriter(out, DIMS) as w:
        w.row(
            "001",
            {"segment": DimResult("SMB", ("smb",)), "icp_score": DimResult(55.0, ("fit", "intent"))},
            {"segment": "SMB", "icp_score": "50.0"},
        )
        w.row("002", {"segment": DimResult(None), "icp_score": DimResult(0)}, {})
        w.row("003", {}, {"segment": "Old"})
    assert w.rows == 3
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [
        "id",
        "segment",
        "segment_rule",
        "segment_current",
        "icp_score",
        "icp_score_rule",
        "icp_score_current",
    ]
    assert rows[1] == ["001", "SMB", "smb", "SMB", "55", "fit;intent", "50"]
    assert rows[2] == ["002", "", "", "", "0", "", ""]
    assert rows[3] == ["003", "", "", "Old", "", "", ""]


def test_csv_accepts_dimension_names(tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    with CsvWriter(out, ["tier"]) as w:
        w.row("x", {"tier": DimResult("Gold", ("gold",))}, {"tier": "Silver"})
    assert out.read_text("utf-8").splitlines() == ["id,tier,tier_rule,tier_current", "x,Gold,gold,Silver"]


def test_csv_quotes_commas_and_newlines(tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    with CsvWriter(out, ["tier"]) as w:
        w.row("x", {"tier": DimResult('A, "B"')}, {"tier": "line1\nline2"})
    with out.open(newline="", encoding="utf-8") as fh:
        assert list(csv.reader(fh))[1] == ["x", 'A, "B"', "", "line1\nline2"]


def test_csv_neutralizes_formulas(tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    with CsvWriter(out, ["tier"]) as w:
        w.row("=HYPERLINK(1)", {"tier": DimResult(-5)}, {"tier": "@SUM(A1)"})
    with out.open(newline="", encoding="utf-8") as fh:
        assert list(csv.reader(fh))[1] == ["'=HYPERLINK(1)", "-5", "", "'@SUM(A1)"]
    assert safe_cell("+3.5") == "+3.5"
    assert safe_cell("-x") == "'-x"
    assert safe_cell("plain") == "plain"


def test_csv_row_requires_open(tmp_path: Path) -> None:
    w = CsvWriter(tmp_path / "a.csv", ["tier"])
    with pytest.raises(RuntimeError):
        w.row("x", {}, {})


def test_csv_is_all_or_nothing(tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    out.write_text("previous report\n", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt), CsvWriter(out, ["tier"]) as w:
        w.row("1", {}, {})
        assert out.read_text(encoding="utf-8") == "previous report\n"  # rows go to a temporary name
        raise KeyboardInterrupt
    assert out.read_text(encoding="utf-8") == "previous report\n" and sorted(tmp_path.iterdir()) == [out]
    with CsvWriter(out, ["tier"]) as w:
        w.row("1", {}, {})
    assert out.read_text(encoding="utf-8").splitlines()[1] == "1,,,"
    assert sorted(tmp_path.iterdir()) == [out]
