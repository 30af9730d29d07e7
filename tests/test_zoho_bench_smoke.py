"""The Zoho sync benchmark runs end to end on a small sandbox and every run makes exactly its floor
of calls and credits (the benchmark's own check, exit 0), the full re-read through Bulk Read. Figures
only: nothing asserts on speed."""

from __future__ import annotations


def test_zoho_bench_runs_at_the_floor(run_bench) -> None:
    proc = run_bench("zoho_bench", "--accounts", 2500, "--bulk-read-threshold", 1000, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs, reads = proc.stdout.split("## The full read alone")
    rows = [line for line in runs.splitlines() if line.startswith("| ") and "calls:" not in line]
    assert len(rows) == 2 + 4 and "off the floor" not in proc.stdout
    full = [cell.strip() for cell in rows[2].split("|")]
    assert full[2] == "2,500" and full[4] == full[5] == full[6]  # sandbox, crmseg and the floor agree
    bulk = [cell.strip() for cell in rows[5].split("|")]
    assert bulk[1] == "full re-read (--full)" and bulk[4] == bulk[6] == "6" and bulk[7] == bulk[8] == "54"
    walk, job = (line for line in reads.splitlines() if line.startswith(("| page walk", "| Bulk Read")))
    assert walk.split("|")[3].strip() == "13" and job.split("|")[3:6] == [" 3 ", " 3 ", " 52 "]
