"""Failing inline tests are never silent (issue 10, point 5).

``audit`` shows them at the top of every report and exits 1; ``sync`` refuses the rules with
exit 2 before reading anything; the error examples in the README and the docs are what
``rules check`` prints.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from .cli_run import crmseg

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "accounts.csv"
BROKEN = (
    'name    = "big manufacturer"\naccount = { industry = "Manufacturing", employees = 5000 }\nexpect  = "Enterprise"',
    'name    = "big manufacturer"\naccount = { industry = "Manufacturing", employees = 5000 }\nexpect  = "SMB"',
)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A copy of the shipped rules whose "big manufacturer" test expects the wrong label."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    seg = tmp_path / "rules" / "segment.toml"
    text = seg.read_text(encoding="utf-8")
    assert BROKEN[0] in text
    seg.write_text(text.replace(*BROKEN), encoding="utf-8")
    shutil.copy(SAMPLE, tmp_path / "accounts.csv")
    return tmp_path


def test_audit_warns_at_the_top_of_every_report_and_exits_1(broken: Path) -> None:
    r = crmseg(
        "audit",
        "--source",
        "accounts.csv",
        "--rules",
        "rules",
        "--mapping",
        str(ROOT / "connectors" / "csv.toml"),
        "--engine",
        "native",
        "--json",
        "a.json",
        "--html",
        "a.html",
        cwd=broken,
    )
    assert r.returncode == 1, r.stderr
    alert = r.stdout.index("Inline rule tests FAIL (1)")
    assert (
        alert < r.stdout.index("segment") and "test \"big manufacturer\": expected 'SMB', got 'Enterprise'" in r.stdout
    )
    assert "1 inline rule test(s) fail" in r.stderr
    doc = json.loads((broken / "a.json").read_text(encoding="utf-8"))
    assert len(doc["failed_tests"]) == 1 and "big manufacturer" in doc["failed_tests"][0]
    page = (broken / "a.html").read_text(encoding="utf-8")
    assert 'id="failed-tests"' in page and page.index('id="failed-tests"') < page.index('id="changes"')


def test_a_quiet_audit_still_says_so(broken: Path) -> None:
    r = crmseg(
        "audit",
        "--source",
        "accounts.csv",
        "--rules",
        "rules",
        "--mapping",
        str(ROOT / "connectors" / "csv.toml"),
        "--engine",
        "native",
        "-q",
        cwd=broken,
    )
    assert r.returncode == 1 and "big manufacturer" in r.stderr and r.stdout == ""


def test_audit_of_passing_rules_has_no_alert(tmp_path: Path) -> None:
    r = crmseg(
        "audit",
        "--source",
        str(SAMPLE),
        "--rules",
        "rules",
        "--engine",
        "native",
        "--json",
        str(tmp_path / "a.json"),
        cwd=ROOT,
    )
    assert r.returncode == 0 and "Inline rule tests FAIL" not in r.stdout
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))["failed_tests"] == []


def test_sync_refuses_rules_whose_tests_fail(broken: Path) -> None:
    (broken / "config.toml").write_text(
        '[state]\npath = "state.sqlite"\n[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\n'
        f'mapping = "{ROOT / "connectors" / "csv.toml"}"\nrules = "rules"\nengine = "native"\n',
        encoding="utf-8",
    )
    r = crmseg("sync", "--config", "config.toml", "-q", cwd=broken)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "sync refused: 1 of" in r.stderr and "big manufacturer" in r.stderr
    assert not (broken / "demo-changes.csv").exists() and not (broken / "state.sqlite").exists()
    seg = broken / "rules" / "segment.toml"
    seg.write_text(seg.read_text(encoding="utf-8").replace(BROKEN[1], BROKEN[0]), encoding="utf-8")
    assert crmseg("sync", "--config", "config.toml", "-q", cwd=broken).returncode == 0  # fixed: it runs


@pytest.mark.parametrize("doc", ["README.md", "docs/rule-language.md"])
def test_documented_error_columns_are_what_check_prints(tmp_path: Path, doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    m = re.search(
        r'^ +when = "(.+?)" +# a typo in rules/segment\.toml\n +(rules/segment\.toml: rule "mid-market" .+)$',
        text,
        re.M,
    )
    assert m, f"{doc} lost its error example"
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    seg = tmp_path / "rules" / "segment.toml"
    seg.write_text(
        re.sub(
            r'(name        = "mid-market"\nwhen        = )"[^"]*"',
            rf'\1"{m.group(1)}"',
            seg.read_text(encoding="utf-8"),
        ),
        encoding="utf-8",
    )
    shutil.copytree(ROOT / "connectors", tmp_path / "connectors")
    r = crmseg("rules", "check", "--rules", "rules", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.splitlines()[0] == m.group(2)
