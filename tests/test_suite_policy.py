"""The test suite's own policy (tests/conftest.py): long tests stay out of the default run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_run import ROOT
from .conftest import AUTO_MARKS, LONG_MARKERS

PLUGIN = "tests.suite_policy_plugin"

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


def _collect(tmp_path: Path) -> dict[str, dict[str, list[str]]]:
    """One ``pytest --collect-only`` with the default options: the markers of each selected and
    each deselected test (one collection: each imports every test module, seconds on 2 cores)."""
    out = tmp_path / "collected.json"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider", "-p", PLUGIN],
        cwd=ROOT,
        env={**os.environ, "CRMSEG_POLICY_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(out.read_text(encoding="utf-8"))


# A whole collection in a subprocess (~9 s): CI's long set runs it, where it checks the default set
# CI ran just before.
@pytest.mark.slow
def test_the_default_run_leaves_out_every_long_test_and_only_those(tmp_path: Path) -> None:
    seen = _collect(tmp_path)
    default, left_out = seen["selected"], seen["deselected"]
    assert len(default) > 1000 and left_out
    long_ones = [n for n in {**default, **left_out} if n.split("::")[0].rsplit("/", 1)[-1] in LONG_MODULES]
    assert long_ones and not set(long_ones) & set(default)
    # the long groups together are exactly what the default run leaves out: `pytest -m ""` runs both
    assert not [n for n, marks in default.items() if set(marks) & set(LONG_MARKERS)]
    assert not [n for n, marks in left_out.items() if not set(marks) & set(LONG_MARKERS)]


def test_marking_fixtures_exist_for_every_long_marker() -> None:
    assert set(AUTO_MARKS.values()) == set(LONG_MARKERS)
