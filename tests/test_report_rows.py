"""Shared report helpers: distribution rows and score binning."""

from __future__ import annotations

from crmseg.report.views import change_total, distribution_rows


def test_label_rows_by_count_none_last() -> None:
    dim = {"kind": "label", "counts": {"A": 1, "B": 5, "C": 5, "Z": 0, "(none)": 3}}
    rows = distribution_rows(dim, 14)
    assert [(r.label, r.count) for r in rows] == [("B", 5), ("C", 5), ("A", 1), ("Z", 0), ("(none)", 3)]
    assert rows[-1].is_none and rows[0].share == 5 / 14


def test_score_rows_numeric_order_and_none_only_when_present() -> None:
    dim = {"kind": "score", "counts": {"10": 1, "2": 2, "7.5": 1, "(none)": 0}}
    assert [r.label for r in distribution_rows(dim, 4)] == ["2", "7.5", "10"]
    dim["counts"]["(none)"] = 1
    assert [r.label for r in distribution_rows(dim, 5)][-1] == "(none)"


def test_score_rows_binned_when_many_values() -> None:
    counts = {str(v): 1 for v in range(100)}
    rows = distribution_rows({"kind": "score", "counts": counts}, 100, max_rows=12)
    assert len(rows) <= 12
    assert rows[0].label == "0–9" and rows[-1].label == "90–99"
    assert sum(r.count for r in rows) == 100


def test_score_rows_binned_fractional() -> None:
    counts = {f"{v / 10:g}": 1 for v in range(40)}
    rows = distribution_rows({"kind": "score", "counts": counts}, 40, max_rows=5)
    assert sum(r.count for r in rows) == 40
    assert rows[0].label.startswith("0 to <")


def test_change_total() -> None:
    assert change_total({"unchanged": 9, "changed": 1, "added": 2, "cleared": 3}) == 6
