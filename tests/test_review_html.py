"""The review's HTML says what a thin sample is: trend points from quarters with fewer than
min_closed closed deals are hollow with dashed lines, a chi-square that was not run says why."""

from __future__ import annotations

import re

from crmseg.report.review_files import differ_text, monotonic_text
from crmseg.report.review_html import trend_chart

PERIODS = [{"start": f"2026-0{m}-01", "end": f"2026-0{m}-28"} for m in (1, 4, 7)]


def _circles(svg: str) -> list[str]:
    return re.findall(r'<circle [^>]*fill="([^"]+)"', svg)


def test_thin_quarters_are_hollow_and_their_segments_dashed() -> None:
    quarters = {"periods": PERIODS, "labels": {"A": {"win_rate": [1.0, 0.3, 0.25], "closed": [2, 30, 40]}}}
    svg = trend_chart("segment", ["A"], quarters, min_closed=20)
    assert _circles(svg)[0] == "#fff"  # 2 closed: hollow
    assert "#fff" not in _circles(svg)[1:]  # 30 and 40 closed: filled
    lines = re.findall(r"<line [^>]*/>", svg)
    series = [line for line in lines if 'stroke-width="2"' in line]
    assert len(series) == 2
    assert "stroke-dasharray" in series[0] and "stroke-dasharray" not in series[1]


def test_a_quarter_without_closed_deals_leaves_a_gap() -> None:
    quarters = {"periods": PERIODS, "labels": {"A": {"win_rate": [0.5, None, 0.4], "closed": [30, 0, 30]}}}
    svg = trend_chart("segment", ["A"], quarters, min_closed=20)
    assert len(_circles(svg)) == 2
    assert not [line for line in re.findall(r"<line [^>]*/>", svg) if 'stroke-width="2"' in line]


def test_untested_statistics_say_why() -> None:
    assert differ_text(None).startswith("not tested")
    assert differ_text(0.0123) == "p 0.012"
    assert monotonic_text({"monotonic": None}).startswith("not judged")
    assert monotonic_text({"monotonic": False}) == "no"
