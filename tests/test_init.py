"""Works outside the repository: packaged defaults, ``crmseg init``, ``crmseg --version``."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from crmseg.defaults import packaged_dir

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [
    ("connectors", "*.toml"),
    ("rules", "*.toml"),
    ("examples", "*.csv"),
    ("scripts", "*.py"),
]


@pytest.mark.parametrize("folder, pattern", SHIPPED)
def test_packaged_copies_equal_the_repository_files(folder: str, pattern: str) -> None:
    repo = sorted(p.name for p in (ROOT / folder).glob(pattern))
    assert repo and sorted(p.name for p in packaged_dir(folder).glob(pattern)) == repo
    for name in repo:
        assert (packaged_dir(folder) / name).read_bytes() == (ROOT / folder / name).read_bytes(), (
            f"src/crmseg/defaults/{folder}/{name} differs from {folder}/{name}: copy it over"
        )


def test_every_packaged_file_is_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"][
        "crmseg"
    ]
    base = ROOT / "src" / "crmseg"
    for path in (base / "defaults").rglob("*"):
        if path.is_file() and path.suffix != ".pyc" and path.name != "__init__.py":
            rel = path.relative_to(base).as_posix()
            assert any(fnmatch.fnmatch(rel, g) for g in globs), f"{rel} is not in [tool.setuptools.package-data]"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The package as a wheel installs it (src/crmseg only, no checkout around it), first on the path."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(ROOT / "src" / "crmseg", site / "crmseg", ignore=shutil.ignore_patterns("__pycache__"))
    return {**os.environ, "PYTHONPATH": str(site)}


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crmseg", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_init_then_check_and_audit_outside_the_repository(installed: dict[str, str], tmp_path: Path) -> None:
    r = run(installed, tmp_path, "init", "proj")
    assert r.returncode == 0, r.stderr
    proj = tmp_path / "proj"
    assert sorted(p.name for p in proj.iterdir()) == ["accounts.csv", "config.toml", "connectors", "rules"]
    r = run(installed, proj, "rules", "check")
    assert r.returncode == 0 and "tests passed" in r.stdout, r.stderr
    r = run(installed, proj, "audit", "--config", "config.toml", "--json", "a.json", "-q")
    assert r.returncode == 0, r.stderr
    r = run(installed, tmp_path, "init", "proj")
    assert r.returncode == 2 and "would overwrite config.toml" in r.stderr and "--force" in r.stderr
    assert run(installed, tmp_path, "init", "proj", "--force").returncode == 0


def test_default_mapping_comes_from_the_package(installed: dict[str, str], tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")  # no connectors/ here or beside the rules
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "accounts.csv")
    r = run(installed, tmp_path, "rules", "check", "--rules", "rules")
    assert r.returncode == 0, r.stderr
    r = run(installed, tmp_path, "audit", "--source", "accounts.csv", "--rules", "rules", "-q")
    assert r.returncode == 0, r.stderr


def test_sandbox_mapping_and_generator_come_from_the_package(installed: dict[str, str], tmp_path: Path) -> None:
    code = (
        "from crmseg.sandbox.defaults import shipped_mapping_path as m; from crmseg.sandbox.synthetic import "
        "synthetic_accounts as s; print(m('hubspot')); print(len(s(3)))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=installed, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    path, n = r.stdout.split()
    assert path.endswith("crmseg/defaults/connectors/hubspot.toml") and str(ROOT) not in path and n == "3"


def test_version(installed: dict[str, str], tmp_path: Path) -> None:
    r = run(installed, tmp_path, "--version")
    assert r.returncode == 0 and "version 0.1.0" in r.stdout
