"""The Zoho sync benchmark runs end to end on a small sandbox and every run makes exactly its floor
of calls and credits (the benchmark's own check, exit 0). Figures only: nothing asserts on speed."""

from __future__ import annotations


def test_zoho_bench_runs_at_the_floor(run_bench) -> None:
    proc = run_bench("zoho_bench", "--accounts", 2500, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "calls:" not in line]
    assert len(rows) == 2 + 3 and "off the floor" not in proc.stdout
    full = [cell.strip() for cell in rows[2].split("|")]
    assert full[2] == "2,500" and full[4] == full[5] == full[6]  # sandbox, crmseg and the floor agree
