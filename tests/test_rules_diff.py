"""``crmseg rules diff`` (issue 10, point 3): a rule edit's impact, checked against two audits."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from .cli_run import crmseg

ROOT = Path(__file__).resolve().parents[1]
DIMS = ("segment", "tier", "stage", "icp_score")
EDIT = ("employees >= 1000 or", "employees >= 700 or")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git checkout whose last commit edits the shipped segment rule (base copy kept in before/)."""
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("rules", "connectors"):
        shutil.copytree(ROOT / name, work / name)
    shutil.copy(ROOT / "examples" / "accounts.csv", work / "accounts.csv")
    shutil.copytree(ROOT / "rules", tmp_path / "before")
    git(work, "init", "-q")
    git(work, "add", ".")
    git(work, "commit", "-qm", "shipped rules")
    seg = work / "rules" / "segment.toml"
    seg.write_text(seg.read_text(encoding="utf-8").replace(*EDIT), encoding="utf-8")
    git(work, "commit", "-qam", "enterprise from 700 employees")
    return work


def _audit_tags(cwd: Path, rules: Path) -> dict[str, dict[str, str]]:
    out = cwd.parent / f"audit-{rules.name}.csv"
    r = crmseg(
        "audit",
        "--source",
        "accounts.csv",
        "--rules",
        str(rules),
        "--as-of",
        "2026-11-01",
        "--engine",
        "native",
        "-q",
        "--csv",
        str(out),
        cwd=cwd,
    )
    assert r.returncode == 0, r.stderr
    with out.open(newline="", encoding="utf-8") as fh:
        return {row["id"]: {d: row[d] or "(none)" for d in DIMS} for row in csv.DictReader(fh)}


def test_diff_against_head_1_matches_two_separate_audits(repo: Path) -> None:
    r = crmseg(
        "rules",
        "diff",
        "--base",
        "HEAD~1",
        "--source",
        "accounts.csv",
        "--as-of",
        "2026-11-01",
        "--engine",
        "native",
        "--json",
        "diff.json",
        cwd=repo,
    )
    assert r.returncode == 0, r.stderr
    assert "from → to" in r.stdout and "Enterprise" in r.stdout
    doc = json.loads((repo / "diff.json").read_text(encoding="utf-8"))
    before = _audit_tags(repo, repo.parent / "before")
    after = _audit_tags(repo, repo / "rules")
    assert doc["accounts"] == len(before) == len(after) == 400
    assert doc["moved"] == sum(before[i] != after[i] for i in before) > 0
    for dim in DIMS:
        matrix = Counter((before[i][dim], after[i][dim]) for i in before)
        got = {(c["from"], c["to"]): c["accounts"] for c in doc["dimensions"][dim]["matrix"]}
        assert got == dict(matrix), dim
        counts = doc["dimensions"][dim]["counts"]
        assert {v: c["before"] for v, c in counts.items() if c["before"]} == dict(
            Counter(t[dim] for t in before.values())
        )
        assert {v: c["after"] for v, c in counts.items() if c["after"]} == dict(Counter(t[dim] for t in after.values()))
    seg = doc["dimensions"]["segment"]
    assert seg["rules"]["enterprise"]["delta"] == seg["counts"]["Enterprise"]["delta"] > 0
    sample = seg["moves"][0]["samples"][0]
    assert sample["after_rule"] == "enterprise" and after[sample["id"]]["segment"] == "Enterprise"
    assert before[sample["id"]]["segment"] == seg["moves"][0]["from"]
    # each sample carries the account's name (and domain, when it has one) beside its id
    with (repo / "accounts.csv").open(newline="", encoding="utf-8") as fh:
        rows = {row["id"]: row for row in csv.DictReader(fh)}
    for move in seg["moves"]:
        for s in move["samples"]:
            assert s["name"] == rows[s["id"]]["name"].strip()
            assert s.get("domain") == (rows[s["id"]]["domain"].strip().lower() or None)
    md = crmseg(
        "rules",
        "diff",
        "--base",
        "HEAD~1",
        "--source",
        "accounts.csv",
        "--as-of",
        "2026-11-01",
        "--markdown",
        "-",
        cwd=repo,
    )
    assert md.returncode == 0, md.stderr
    named = f"{sample['id']} {sample['name']}" + (f" ({sample['domain']})" if sample.get("domain") else "")
    assert f"{named} ({sample['before_rule']} → {sample['after_rule']})" in md.stdout


def test_fail_above_is_a_ci_gate(repo: Path) -> None:
    args = (
        "rules",
        "diff",
        "--base",
        "HEAD~1",
        "--source",
        "accounts.csv",
        "--as-of",
        "2026-11-01",
        "-q",
        "--json",
        "d.json",
    )
    ok = crmseg(*args, "--fail-above", "50%", cwd=repo)
    assert ok.returncode == 0, ok.stderr
    share = json.loads((repo / "d.json").read_text(encoding="utf-8"))["moved_share"] * 100
    assert 0 < share < 50
    fail = crmseg(*args, "--fail-above", f"{share - 0.01:.4f}%", cwd=repo)
    assert fail.returncode == 1 and "more than --fail-above" in fail.stderr
    same = crmseg("rules", "diff", "--base", "HEAD", "--source", "accounts.csv", "--fail-above", "0%", "-q", cwd=repo)
    assert same.returncode == 0  # nothing moves


def test_folder_base_markdown_and_html(repo: Path) -> None:
    r = crmseg(
        "rules",
        "diff",
        "--base",
        str(repo.parent / "before"),
        "--source",
        "accounts.csv",
        "--as-of",
        "2026-11-01",
        "--markdown",
        "-",
        "--html",
        "d.html",
        cwd=repo,
    )
    assert r.returncode == 0, r.stderr
    md = r.stdout
    assert md.startswith("## crmseg rules diff") and "| from \\ to |" in md and "**" in md
    assert "| enterprise |" in md  # rule hit changes
    page = (repo / "d.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'class="matrix"' in page
    assert "http" not in page.replace("http-equiv", "") and "<script" not in page


def test_diff_with_config_reads_the_sync(repo: Path) -> None:
    (repo / "config.toml").write_text(
        '[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\nmapping = "connectors/csv.toml"\nrules = "rules"\n',
        encoding="utf-8",
    )
    r = crmseg(
        "rules",
        "diff",
        "--base",
        "HEAD~1",
        "--config",
        "config.toml",
        "--as-of",
        "2026-11-01",
        "-q",
        "--json",
        "-",
        cwd=repo,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["moved"] > 0


@pytest.mark.parametrize(
    "base, message",
    [("no-such-rev", "not a folder and not a git revision"), ("HEAD~5", "not a folder and not a git revision")],
)
def test_a_bad_base_is_a_usage_error(repo: Path, base: str, message: str) -> None:
    r = crmseg("rules", "diff", "--base", base, "--source", "accounts.csv", cwd=repo)
    assert r.returncode == 2 and message in r.stderr


def test_a_base_whose_rules_do_not_load_names_the_revision(repo: Path) -> None:
    seg = repo / "rules" / "segment.toml"
    good = seg.read_text(encoding="utf-8")
    seg.write_text(good.replace("employees >= 700 or", "employes >= 700 or"), encoding="utf-8")
    git(repo, "commit", "-qam", "typo")
    seg.write_text(good, encoding="utf-8")
    r = crmseg("rules", "diff", "--base", "HEAD", "--source", "accounts.csv", cwd=repo)
    assert r.returncode == 2
    assert "--base HEAD (" in r.stderr and 'rules/segment.toml: rule "enterprise"' in r.stderr
    assert "crmseg-diff-" not in r.stderr
