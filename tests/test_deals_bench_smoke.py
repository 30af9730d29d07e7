"""The deals benchmark runs end to end on a tiny sandbox and every deal read makes exactly its floor of calls.

Figures only: nothing here asserts on speed."""

from __future__ import annotations

import math
import re

import pytest

pytest.importorskip("crmseg.sandbox")


def test_deals_bench_tiny_run_reads_at_the_floor(run_bench) -> None:
    proc = run_bench("deals_bench", "--accounts", 300, "--deals", 2500, "--changes", 1200, "--sample", 10)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "RESULT: calls == floor for every deal read (salesforce,hubspot): OK" in out, out
    assert "PROBLEM" not in out and "DIFFER" not in out, out
    rows = {}
    for m in re.finditer(r"^  (full read|incremental read)\s{2,}(.*)$", out, re.M):
        rows.setdefault(m.group(1), []).append(re.split(r"\s{2,}", m.group(2).strip()))
    (sf_full, hs_full), (sf_incr, hs_incr) = rows["full read"], rows["incremental read"]
    live = int(sf_full[0].replace(",", ""))
    assert 2400 < live < 2500  # ~1% of the seeded deals are deleted
    assert (sf_full[1], sf_incr[1]) == (str(math.ceil(live / 2000)), "1")
    assert hs_full[1] == str(math.ceil(int(hs_full[0].replace(",", "")) / 100))
    assert hs_incr[:2] == ["1,200", str(math.ceil(1200 / 200) + math.ceil(1200 / 1000))]
    for row in (sf_full, hs_full, sf_incr, hs_incr):  # naive: one call per deal, its time scaled
        assert row[5] == row[0] and row[6].endswith("*"), row
