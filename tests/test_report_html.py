"""Self-contained HTML report."""

from __future__ import annotations

import json
import re
from pathlib import Path

from crmseg.audit.summary import AuditSummary
from crmseg.model import DimResult
from crmseg.report.html import render_html, write_html
from tests.dims import Dim

EVIL = "<script>alert(1)</script>"


def summary() -> AuditSummary:
    dims = [
        Dim("segment", rule_names=["ent", "x<img src=x onerror=alert(1)>"], description='"quoted" & <b>'),
        Dim("stage", rule_names=["cust"]),
        Dim("icp_score", kind="score", rule_names=["fit"]),
    ]
    s = AuditSummary(dims, ["employees"])
    for i in range(200):
        seg = DimResult(EVIL, ("ent",)) if i % 3 else DimResult("SMB & Co")
        score = DimResult(float(i % 40), ("fit",))  # 40 distinct values -> binned chart
        s.add(
            str(i),
            {"segment": seg, "stage": DimResult(None), "icp_score": score},
            {"segment": "SMB & Co" if i < 50 else None},
        )
    s.metadata.update(
        source="http://127.0.0.1:8080/sandbox",
        engine="native",
        started_at="2024-05-01T10:00:00+00:00",
        duration_s=2.5,
        rules_dir="rules/",
    )
    s.finish({"employees": {"missing": 12, "invalid": 3}}, [f"warning with {EVIL}"])
    return s


def test_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "audit.html"
    write_html(summary(), out)
    page = out.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for bad in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert bad not in page, bad
    assert not re.search(r"<[^>]*\s(src|href|xlink:href)\s*=", page)
    assert "Content-Security-Policy" in page


def test_one_chart_per_dimension_plus_changes() -> None:
    page = render_html(summary())
    assert page.count("<svg") == 3 + 1
    assert page.count('aria-label="distribution"') == 3


def test_escapes_user_text() -> None:
    page = render_html(summary())
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page and "x&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&quot;quoted&quot; &amp; &lt;b&gt;" in page
    assert "SMB &amp; Co" in page


def test_contents() -> None:
    page = render_html(summary())
    text = re.sub(r"<[^>]+>", " ", page)
    for needle in (
        "200",
        "Would change",
        "unchanged",
        "changed",
        "added",
        "cleared",
        "Data quality",
        "employees",
        "Never fired",
        "Warnings (",
        "native",
        "2.5 s",
        "127.0.0.1&#58;//".replace("127.0.0.1", "http"),
    ):
        assert needle in text, needle
    # the score dimension (40 distinct values) is binned into ranges
    assert "0–4" in page or "0–9" in page


def test_render_from_json_and_empty() -> None:
    data = json.loads(json.dumps(summary().to_json()))
    assert render_html(data).count("<svg") == 4
    empty = AuditSummary([], [])
    empty.finish({})
    page = render_html(empty)
    assert "No warnings." in page and "<svg" not in page
