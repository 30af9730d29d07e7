"""The CRM connector benchmark runs end to end on a tiny sandbox and reports the minimal call counts.

Figures only: nothing here asserts on speed."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

pytest.importorskip("crmseg.sandbox")

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "crm_bench.py"
N, K = 2500, 450
# (read page, write batch, fixed read calls: login + describe) per CRM
SIZES = {"salesforce": (2000, 200, 2), "hubspot": (100, 100, 0)}


def _num(text: str) -> int:
    return int(text.replace(",", ""))


def _section(out: str, crm: str) -> str:
    start = out.index(f"== {crm}:")
    end = out.find("\n== ", start + 1)
    return out[start:] if end < 0 else out[start:end]


def _row(section: str, op: str) -> list[str]:
    """The cells of one table row (columns are separated by two or more spaces)."""
    m = re.search(rf"^{re.escape(op)}  .*$", section, re.M)
    assert m, f"no row {op!r} in:\n{section}"
    return re.split(r"\s{2,}", m.group(0).strip())


def test_crm_bench_tiny_run_makes_exactly_the_lower_bound_of_calls(tmp_path: Path, run_bench) -> None:
    proc = run_bench("crm_bench", "--accounts", N, "--changes", K, "--db-dir", tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "RESULT: calls == lower bound for every batched read and write (salesforce, hubspot): OK" in out, out

    for crm, (page, batch, fixed) in SIZES.items():
        sec = _section(out, crm)
        assert f"{crm}: calls == lower bound (" in sec and sec.rstrip().endswith(": OK"), sec
        assert "connector counter == sandbox /__sandbox/stats: yes" in sec, sec

        # operation, records, API calls, lower bound, check, wall s, records/s, vs naive
        read = _row(sec, "read all accounts")
        pages = math.ceil(N / page)
        assert _num(read[1]) == N and _num(read[2]) == pages + fixed, read
        assert read[3] == (f"{pages}+{fixed}" if fixed else str(pages)) and read[4] == "OK", read

        write = _row(sec, "write tags: sObject Collections" if crm == "salesforce" else "write tags: batch/update")
        assert _num(write[1]) == K and _num(write[2]) == math.ceil(K / batch) == _num(write[3]), write
        assert write[4] == "OK" and "fewer calls" in write[7], write

        naive = _row(sec, "write tags: naive 1 call/record")
        assert _num(naive[1]) == K and _num(naive[2]) == K, naive  # one update call per changed record
        assert "scaled to K" not in sec  # the whole change set fits the default naive sample

    bulk = _row(_section(out, "salesforce"), "write tags: Bulk API 2.0")
    assert _num(bulk[1]) == K and _num(bulk[2]) >= 4, bulk
    # the cached seeded stores are reused by the next run
    assert len(list(tmp_path.glob("sandbox-salesforce-2500-*.sqlite"))) == 1
    assert len(list(tmp_path.glob("sandbox-hubspot-2500-*.sqlite"))) == 1
