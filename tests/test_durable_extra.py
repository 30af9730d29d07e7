"""durable-rules is the optional ``crmseg[durable]`` extra: without it crmseg works (native engine)
and ``--engine durable`` says how to get it, exit 2."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from crmseg.rules.engines import durable_missing

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = str(ROOT / "examples" / "accounts.csv")
RULES = str(ROOT / "rules")

# The console entry point with durable-rules unimportable: crmseg imports only
# ``durable_rules_engine`` (durable_available() and engines/durable.py), and a None entry in
# sys.modules makes that import raise ImportError, as when the package is not installed.
WITHOUT_DURABLE = (
    "import sys; sys.modules['durable_rules_engine'] = None; sys.argv[0] = 'crmseg'; "
    "from crmseg.cli import main; main()"
)


def crmseg_without_durable(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_DURABLE, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "--source", SAMPLE, "--rules", RULES, "--engine", "durable", "-q"],
        ["rules", "check", "--rules", RULES, "--engine", "durable"],
        ["rules", "explain", "--rules", RULES, "--account", '{"id": "1", "employees": 5}', "--engine", "durable"],
        ["audit", "--config", "durable.toml", "-q"],  # engine = "durable" in the sync
    ],
    ids=["audit", "rules-check", "rules-explain", "config"],
)
def test_durable_engine_without_the_package_says_how_to_get_it(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "durable.toml").write_text(
        f'[syncs.sample]\nconnector = "csv"\npath = {SAMPLE!r}\nrules = {RULES!r}\n'
        f'mapping = {str(ROOT / "connectors" / "csv.toml")!r}\nengine = "durable"\n',
        encoding="utf-8",
    )
    r = crmseg_without_durable(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr == f"error: {durable_missing()}\n"
    assert r.stderr.startswith("error: engine 'durable' needs the durable-rules package: pip install 'crmseg[durable]'")


def test_the_native_engine_needs_no_durable(tmp_path: Path) -> None:
    for engine in ("auto", "native"):
        r = crmseg_without_durable(
            "audit", "--source", SAMPLE, "--rules", RULES, "--engine", engine, "-q", cwd=tmp_path
        )
        assert r.returncode == 0, r.stderr


def test_the_message_says_where_durable_builds() -> None:
    assert "does not build" not in durable_missing((3, 12)) and "gcc" in durable_missing((3, 11))
    on_313 = durable_missing((3, 13))
    assert "does not build on Python 3.13 or later (this is 3.13)" in on_313 and "--engine native" in on_313


def test_durable_rules_is_an_extra_that_dev_keeps() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not [d for d in project["dependencies"] if "durable" in d], "pip install crmseg must not need gcc"
    assert project["optional-dependencies"]["durable"] == ["durable-rules>=2.0.28; python_version < '3.13'"]
    assert "crmseg[durable]" in project["optional-dependencies"]["dev"]
