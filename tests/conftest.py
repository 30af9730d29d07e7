"""Test-suite policy: which tests are long, how they get marked, and how big they run.

The default run (``pytest -q``) is the fast set. Long tests carry one of :data:`LONG_MARKERS`
and are deselected by ``addopts`` in pyproject.toml; ``pytest -m ""`` runs everything (CI does).
A test is marked by what it uses, not only by what it says: the fixtures of :data:`AUTO_MARKS`
mark every test that (directly or through another fixture) requests them. And an unmarked test
whose setup and body take longer than :data:`FAST_BUDGET_S` fails, saying to mark it, so a
long test cannot join the fast set unnoticed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from . import daemon_proc, scale
from .cli_run import ROOT
from .pg_server import PgServer, unavailable

LONG_MARKERS = ("slow", "postgres", "daemon", "bench")
# fixture name -> the marker every test using it gets
AUTO_MARKS = {
    "pg_server": "postgres",
    "daemon": "daemon",
    "crash_accounts": "slow",
    "soak_runs": "slow",
    "run_bench": "bench",
    "large_rows": "slow",
    "seed_sweep": "slow",
}
FAST_BUDGET_S = float(os.environ.get("CRMSEG_FAST_BUDGET_S", "20"))

settings.register_profile(
    scale.PROFILE,
    max_examples=scale.HYPOTHESIS_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile(scale.PROFILE)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in AUTO_MARKS.items():
            if fixture in used and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


def _is_long(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(m) is not None for m in LONG_MARKERS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "setup":
        item.stash[_setup_s] = report.duration
    elif report.when == "call" and report.passed and not scale.CI and not _is_long(item):
        took = item.stash.get(_setup_s, 0.0) + report.duration
        if took > FAST_BUDGET_S:
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid} took {took:.1f} s, over the fast set's {FAST_BUDGET_S:.0f} s budget: make it "
                f"faster, or mark it with one of {', '.join(LONG_MARKERS)} (see tests/conftest.py) so it runs "
                "in CI's long set instead of every developer's default run"
            )
    return report


_setup_s = pytest.StashKey[float]()


# ---------------------------------------------------------------- fixtures that mark their users
@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server started for this test session (skips, saying why, without the binaries)."""
    reason = unavailable()
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh empty database on the session's server (URL without password)."""
    return pg_server.new_database()


@pytest.fixture
def daemon() -> Iterator[Callable[..., daemon_proc.DaemonProc]]:
    """Starts ``crmseg daemon`` subprocesses (``daemon(config, env, cwd, metrics=True)``); kills
    any still running when the test ends. The only way to start one, so its test is marked."""
    started: list[daemon_proc.DaemonProc] = []

    def start(config: Path, env: dict[str, str], cwd: Path, metrics: bool = True) -> daemon_proc.DaemonProc:
        d = daemon_proc.DaemonProc(config, env, cwd, metrics=metrics, _token=daemon_proc.FIXTURE_TOKEN)
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()


@pytest.fixture(scope="session")
def crash_accounts() -> int:
    """Accounts in the crash tests' CRM (issue-sized in CI)."""
    return scale.CRASH_ACCOUNTS


@pytest.fixture(scope="session")
def soak_runs() -> int:
    """Daemon runs in the soak test."""
    return scale.SOAK_RUNS


@pytest.fixture(scope="session")
def large_rows() -> int:
    """Rows of the large-data memory tests' files (200k: big enough for a leak to show)."""
    return 200_000


@pytest.fixture(scope="session")
def seed_sweep() -> range:
    """Sandbox seeds of the review's multi-seed sweep (a sync and a review each, with and
    without planted effects: tests/test_review_planted.py)."""
    return range(101, 121)


@pytest.fixture
def run_bench() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs ``benchmarks/NAME.py ARGS`` as a subprocess from the repository root."""

    def run(name: str, *args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        script = ROOT / "benchmarks" / f"{name}.py"
        return subprocess.run(
            [sys.executable, str(script), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )

    return run
