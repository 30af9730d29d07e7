"""The review benchmark runs end to end on a tiny state: the state is built through the store's
API, `crmseg review` reads every deal from it, and the columnar attribution and tally equal the
row-by-row ones.

Figures only: nothing here asserts on speed or memory."""

from __future__ import annotations

import json
import re


def test_review_bench_tiny_run(run_bench, tmp_path) -> None:
    proc = run_bench(
        "review_bench", "--accounts", 300, "--deals", 1500, "--history", 3, "--repeat", 1, "--out", tmp_path
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    row = re.search(r"^\| 1 \| ([\d.]+) \| (\d+) \| (\d) \|$", out, re.M)
    assert row is not None and row.group(3) in ("0", "1"), out  # 1: an alert fired, still a review
    counts = json.loads(re.search(r"deals (\{.*\})$", out, re.M).group(1))  # type: ignore[union-attr]
    assert counts["read"] == 1500
    assert counts["attribution"]["as_of"] > 0 and counts["attribution"]["backfilled"] > 0  # history does work
    assert "| tallies identical | yes |" in out and "| attributions identical | yes |" in out, out
    assert "(targets are for 100,000 accounts and 500,000 deals; this run is smaller)" in out
