"""The sync benchmark runs end to end on a tiny sandbox and every sync run makes exactly its floor of calls.

Figures only: nothing here asserts on speed."""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("crmseg.sandbox")

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "sync_bench.py"
N = 2500
RUNS = (
    "1 full first sync (state empty)",
    "2 no-change incremental",
    "3 rule edit: local copy",
    "4 rule edit: --full read",
    "5 7 days later: local copy",
)
# (full-read page, incremental page, write batch, fixed calls per run) per CRM
SIZES = {"salesforce": (2000, 2000, 200, 2), "hubspot": (100, 200, 100, 2), "dynamics": (5000, 5000, 100, 5)}


def _num(text: str) -> int:
    return int(text.replace(",", "").rstrip("*"))


def _section(out: str, crm: str) -> str:
    start = out.index(f"== {crm}:")
    ends = [i for i in (out.find("\n== ", start + 1), out.find("\nRESULT:", start)) if i >= 0]
    return out[start : min(ends)] if ends else out[start:]


def _row(section: str, label: str) -> list[str]:
    """The cells of one table row (columns are separated by two or more spaces)."""
    m = re.search(rf"^{re.escape(label)}  .*$", section, re.M)
    assert m, f"no row {label!r} in:\n{section}"
    return re.split(r"\s{2,}", m.group(0).strip())


def _bench_module():
    spec = importlib.util.spec_from_file_location("sync_bench_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[spec.name]
    return mod


def test_search_floor_reads_each_record_once_past_the_cap() -> None:
    floor = _bench_module().search_floor
    assert floor(0, 10_000, 200) == (1, 1)  # an empty search is still one call
    assert floor(10_000, 10_000, 200) == (50, 1)  # exactly the cap: one query
    # past the cap each next query starts after the last record read: no page is spent on re-reads
    assert floor(25_000, 10_000, 200) == (125, 3)
    assert floor(97_223, 10_000, 200) == (487, 10)


def test_sync_bench_tiny_run_makes_exactly_the_floor_of_calls(tmp_path: Path, run_bench) -> None:
    proc = run_bench("sync_bench", "--accounts", N, "--db-dir", tmp_path, timeout=600)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "RESULT: calls == floor for every sync run (salesforce, hubspot, dynamics): OK" in out, out

    for crm, (page_full, page_incr, batch, fixed) in SIZES.items():
        sec = _section(out, crm)
        assert sec.rstrip().endswith(f"{crm}: calls == floor for every run (no faults): OK"), sec
        assert "sandbox /__sandbox/stats == run's api_calls (state) == run summary: yes" in sec, sec
        assert "PROBLEM" not in sec and "DISAGREE" not in sec, sec
        rows = {}
        for label in RUNS:
            # run, read, evaluated, changed, API calls, floor P+W+F, check, wall s, run s, naive calls, ...
            cells = _row(sec, label)
            rows[label] = cells
            read, evaluated, changed, calls = (_num(c) for c in cells[1:5])
            p, w, f = (int(x) for x in cells[5].split("+"))
            assert cells[6] == "OK" and calls == p + w + f, cells  # every run is batched: calls == floor
            assert evaluated == N and f == fixed, cells  # days_since rules: every run re-evaluates every account
            full = label.startswith(("1 ", "4 "))
            assert p == (math.ceil(read / page_full) if full else max(1, math.ceil(read / page_incr))), cells
            assert w == math.ceil(changed / batch), cells  # 2,500 accounts never reach bulk_threshold
            assert _num(cells[9]) == calls - w + changed, cells  # naive: one update call per changed record
            assert cells[10].endswith("*"), cells  # the naive time is scaled from a sample

        first, nochange, local, full_read, later = (rows[label] for label in RUNS)
        assert _num(first[1]) == N and _num(full_read[1]) == N
        assert _num(nochange[1]) == _num(first[3]) > 0  # reads back the first sync's own writes once
        # runs 3 and 5 start from the same state after run 2, which wrote nothing: they read only what
        # shares the watermark's stamp — the first sync's last writes when it ended in the second (or,
        # on HubSpot, the millisecond of its last batch) that run 2 started in — never more
        assert _num(local[1]) == _num(later[1]) <= _num(first[3])
        assert 0.05 * N < _num(local[3]) < 0.15 * N  # ~10% of the accounts change
        assert abs(_num(local[3]) - _num(full_read[3])) <= 2  # the same changes both ways (days_since aside)
        # the local copy reads fewer records than a full read (never more pages: on a fast machine the
        # first sync's writes may all share run 2's start second and fill as many pages as a full read);
        # their writes may differ by a batch, since days_since moves a few accounts between the two
        # runs and can cross a batch boundary
        assert _num(local[1]) < _num(full_read[1]), (local, full_read)
        pages_local, pages_full = (int(r[5].split("+")[0]) for r in (local, full_read))
        assert pages_local <= pages_full, (local, full_read)
        assert "rule change (segment: Enterprise from 1,000 to 450 employees), two ways" in sec
        assert re.search(r"local copy re-evaluation: [\d,]+ API calls", sec) and "full read (--full)" in sec
        assert "naive: the same run with one update call per changed record" in sec
        assert "the rules' clock 7 days ahead" in sec

    # Dynamics reads changes through change tracking: runs 2, 3 and 5 follow the stored delta link,
    # and runs 3 and 5 start after run 2, which wrote nothing: their delta holds nothing at all
    dyn = _section(out, "dynamics")
    assert _num(_row(dyn, RUNS[2])[1]) == _num(_row(dyn, RUNS[4])[1]) == 0
    assert "delta link pages (changed since the stored link)" in dyn and "accounts_delta 1" in dyn
    assert "a $batch one request" in dyn

    # the cached seeded stores are reused by the next run (and shared with crm_bench.py)
    assert len(list(tmp_path.glob("sandbox-salesforce-2500-*.sqlite"))) == 1
    assert len(list(tmp_path.glob("sandbox-hubspot-2500-*.sqlite"))) == 1
    assert len(list(tmp_path.glob("sandbox-dynamics-2500-*.sqlite"))) == 1
