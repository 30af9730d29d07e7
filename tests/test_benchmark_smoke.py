"""The audit benchmark runs end to end, and its hand-written baseline is the shipped rules.

Figures only: nothing here asserts on speed or memory."""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crmseg.audit.plan import plan_source, read_records
from crmseg.rules.engines import durable_available, make_engine

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "audit_bench.py"


def _handwritten():
    spec = importlib.util.spec_from_file_location("bench_handwritten", ROOT / "benchmarks" / "handwritten.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_end_to_end(tmp_path: Path, run_bench) -> None:
    proc = run_bench(
        "audit_bench", "--accounts", "300", "--out", tmp_path, "--sample", "300", "--verify", "300", "--repeat", "1"
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    engines = ["handwritten", "native"] + (["durable"] if durable_available() else [])
    for name in engines:
        # full-audit row: engine, accounts, wall s, accounts/s, peak RSS MB, start RSS MB, ratio
        assert re.search(rf"^{name}\s+300\s+[\d.]+\s+[\d,]+\s+[\d,.]+\s+[\d,.]+\s+\S", out, re.M), out
        # engine-only row: engine, accounts/s, us/account, ratio
        assert re.search(
            rf"^{name}\s+[\d,]+\s+[\d.]+\s+(baseline|[\d.]+x (slower|faster) than hand-written)$", out, re.M
        ), out
    assert re.search(r"^native\s.*x (slower|faster) than hand-written|same as hand-written", out, re.M), out
    # the csv.DictReader floor and every full audit's ratio to it
    assert re.search(r"^floor\s+300\s+[\d.]+\s+[\d,]+\s+[\d,.]+\s+[\d,.]+\s+1\.00x\s+-$", out, re.M), out
    assert re.search(r"^native\s+300\s+.*\s[\d.]+x\s+.*hand-written$", out, re.M), out
    if durable_available():
        assert re.search(r"^durable-batched\s+[\d,]+\s+[\d.]+\s+[\d.]+x slower than hand-written$", out, re.M), out
    assert re.search(r"native evaluation speed vs hand-written: [\d.]+x \((met|NOT met): >= 0\.5x\)", out), out
    assert re.search(r"native full audit vs the csv.DictReader floor: [\d.]+x \((met|NOT met): <= 3x\)", out), out
    assert re.search(r"native peak RSS: [\d,.]+ MB for 300 accounts \(under the 500 MB budget\)", out), out
    assert "handwritten vs native: 0 mismatches" in out, out
    if durable_available():
        assert "durable vs native: 0 mismatches" in out, out
    assert "identical across engines: yes" in out, out
    assert (tmp_path / "accounts-300-seed2026.csv").is_file()


@pytest.mark.parametrize("now", [datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 6, 15, 12, 30, tzinfo=UTC)])
def test_handwritten_equals_native_on_sample_accounts(now: datetime) -> None:
    hand = _handwritten().make_evaluator(now)
    plan = plan_source(
        ROOT / "examples" / "accounts.csv", ROOT / "rules", ROOT / "connectors" / "csv.toml", "native", now=now
    )
    native = make_engine("native", plan.rules, now)
    accounts = [plan.normalizer.account(raw) for raw in read_records(plan)]
    assert len(accounts) == 400
    # the shipped rules' own test accounts: the edge cases (missing fields) they were written for
    for dim in plan.rules.dimensions:
        accounts += [dict(t.account) for t in dim.tests]
    accounts.append({})
    bad = [(a.get("id"), hand(a), native.evaluate(a)) for a in accounts if hand(a) != native.evaluate(a)]
    assert bad == []
    if now.year > 2026:
        return  # the sample's activity dates are a year old by then: recent-activity cannot fire
    # every rule of the shipped files fires somewhere in the sample, so the check covers them all
    fired = {(d, r) for a in accounts for d, res in native.evaluate(a).items() for r in res.rules}
    expected = {(d.name, r.name) for d in plan.rules.dimensions for r in d.rules}
    assert fired == expected
