"""The test suite's own policy (tests/conftest.py): long tests stay out of the default run."""

from __future__ import annotations

import subprocess
import sys

from .cli_run import ROOT
from .conftest import AUTO_MARKS, LONG_MARKERS

# modules whose every test is long: crash, soak, daemons, PostgreSQL, benchmark scripts
LONG_MODULES = (
    "test_sync_crash.py",
    "test_daemon_soak.py",
    "test_daemon.py",
    "test_daemon_postgres.py",
    "test_state_postgres.py",
    "test_state_postgres_cli.py",
    "test_crm_bench_smoke.py",
)


def _collect_all(*marker_args: tuple[str, ...]) -> list[list[str]]:
    """The node ids each ``pytest --collect-only`` (one per argument tuple) selects. The
    collections run side by side: each imports every test module, and one after another they
    took most of this test's time budget on a 2-core machine."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in marker_args
    ]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stdout + stderr
        out.append([line for line in stdout.splitlines() if "::" in line])
    return out


def test_the_default_run_leaves_out_every_long_test_and_all_runs_everything() -> None:
    default, everything, long_groups = _collect_all((), ("-m", ""), ("-m", " or ".join(LONG_MARKERS)))
    assert len(default) > 1000 and len(everything) > len(default)
    long_ones = [n for n in everything if n.split("::")[0].rsplit("/", 1)[-1] in LONG_MODULES]
    assert long_ones and not set(long_ones) & set(default)
    # the long groups together are exactly what the default run leaves out
    assert set(long_groups) == set(everything) - set(default)


def test_marking_fixtures_exist_for_every_long_marker() -> None:
    assert set(AUTO_MARKS.values()) == set(LONG_MARKERS)
