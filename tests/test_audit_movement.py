"""Audit reports show movement, not only counts (issue 10, point 7): per dimension the
CRM now -> computed table (cells add up to the changed counts), ordered scales in their
``values`` order, pinned accounts in the change table (rows add up), a segment x tier cross-tab."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from crmseg.normalize.normalizer import parse_bool
from crmseg.tags import tag_text

from .cli_run import crmseg

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "accounts.csv"
DIMS = ("icp_score", "segment", "stage", "tier")


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict[str, str]], str, str]:
    tmp = tmp_path_factory.mktemp("audit")
    r = crmseg(
        "audit",
        "--source",
        str(SAMPLE),
        "--rules",
        "rules",
        "--as-of",
        "2026-11-01",
        "--engine",
        "native",
        "--json",
        str(tmp / "a.json"),
        "--csv",
        str(tmp / "a.csv"),
        "--html",
        str(tmp / "a.html"),
        cwd=ROOT,
        env={"COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert r.returncode == 0, r.stderr
    with (tmp / "a.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return (
        json.loads((tmp / "a.json").read_text(encoding="utf-8")),
        rows,
        r.stdout,
        (tmp / "a.html").read_text(encoding="utf-8"),
    )


def _pinned() -> set[str]:
    with SAMPLE.open(newline="", encoding="utf-8") as fh:
        out = set()
        for row in csv.DictReader(fh):
            try:
                if parse_bool(row["crmseg_pin"]):
                    out.add(row["id"])
            except ValueError:
                pass
        return out


def test_from_to_cells_add_up_to_the_changed_counts(audit) -> None:
    doc, rows, _, _ = audit
    pinned = _pinned()
    assert pinned  # the sample has pinned accounts
    for dim in DIMS:
        moves = {(m["from"], m["to"]): m["accounts"] for m in doc["dimensions"][dim]["moves"]}
        c = doc["changes"][dim]
        assert sum(moves.values()) == c["changed"] + c["added"] + c["cleared"] > 0
        by_hand = Counter(
            (tag_text(r[f"{dim}_current"]) or "(none)", tag_text(r[dim]) or "(none)")
            for r in rows
            if r["id"] not in pinned and tag_text(r[f"{dim}_current"]) != tag_text(r[dim])
        )
        assert moves == dict(by_hand), dim


def test_pinned_accounts_are_a_column_and_rows_add_up(audit) -> None:
    doc, _, out, html = audit
    for dim in DIMS:
        c, held = doc["changes"][dim], doc["pinned"]["would_change"][dim]
        assert sum(c.values()) + held == doc["accounts"]
        line = next(
            ln for ln in out.splitlines() if ln.split()[:1] == [dim] and ln.split()[1:2] == [f"{c['unchanged']:,}"]
        )
        assert line.split()[1:6] == [f"{c[k]:,}" for k in ("unchanged", "changed", "added", "cleared")] + [f"{held:,}"]
    assert '<th class="n">Pinned</th>' in html


def test_ordered_scales_keep_their_values_order(audit) -> None:
    doc, _, out, _ = audit
    tier = doc["dimensions"]["tier"]
    assert tier["ordered"] and not doc["dimensions"]["segment"]["ordered"]
    counts = tier["counts"]
    assert counts["Tier 3"] > counts["Tier 1"]  # by count, Tier 3 would come first
    lines = [ln.split()[:2] for ln in out.splitlines() if ln.startswith("Tier ")]
    assert [" ".join(x) for x in lines[:3]] == ["Tier 1", "Tier 2", "Tier 3"]


def test_terminal_and_html_show_the_moves(audit) -> None:
    _, _, out, html = audit
    assert out.count("Moves: CRM now → computed") == 4
    assert "CRM now \\ computed" in out
    assert html.count('class="moves"') == 4 and 'class="matrix"' in html


def test_segment_by_tier_crosstab(audit) -> None:
    doc, rows, out, html = audit
    ct = doc["crosstab"]
    assert (ct["rows"], ct["cols"]) == ("segment", "tier")
    cells = {(c["row"], c["col"]): c["accounts"] for c in ct["cells"]}
    assert sum(cells.values()) == doc["accounts"]
    assert cells == dict(Counter((r["segment"] or "(none)", r["tier"] or "(none)") for r in rows))
    assert "segment × tier (computed)" in out and 'id="crosstab"' in html
