"""The crmseg command line: in-process through click's runner; a subprocess where the TTY or the
interpreter itself matters."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crmseg.rules.engines import durable_available

from .cli_run import crmseg, crmseg_process

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ["native", "durable"] if durable_available() else ["native"]


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", d)
    return d


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# ---------------------------------------------------------------- rules check
@pytest.mark.parametrize("engine", ENGINES)
def test_check_passes_on_shipped_rules_and_runs_their_tests(engine: str) -> None:
    r = crmseg("rules", "check", "--rules", "rules", "--engine", engine)
    assert r.returncode == 0, r.stderr
    m = re.search(r"4 dimensions \(icp_score, segment, stage, tier\), \d+ rules, (\d+)/(\d+) tests passed", r.stdout)
    assert m and m.group(1) == m.group(2) and int(m.group(1)) >= 8


@pytest.mark.parametrize(
    "mutation, expected",
    [
        (
            ("segment.toml", 'when        = "100 <= employees', 'when        = "100 <= employes'),
            (
                r'segment\.toml: rule "mid-market" \(when, col 8\): '
                r"unknown field \'employes\' — did you mean \'employees\'\?"
            ),
        ),
        (
            ("segment.toml", 'when        = "employees >= 1000', "when        = \"employees >= '1000'"),
            (
                r'segment\.toml: rule "enterprise" \(when, col 14\): '
                r"type mismatch: \'employees\' is a number but \'1000\' is text"
            ),
        ),
        (
            (
                "segment.toml",
                'when        = "employees >= 1000',
                "when        = \"contians(industry, 'x') or employees >= 1000",
            ),
            (
                r'segment\.toml: rule "enterprise" \(when, col 1\): '
                r"unknown function \'contians\' — did you mean \'contains\'\?"
            ),
        ),
        (
            ("segment.toml", 'value       = "Enterprise"', 'value       = "Enterprize"'),
            (
                r'segment\.toml: rule "enterprise": '
                r"value \'Enterprize\' is not in values .* — did you mean \'Enterprise\'\?"
            ),
        ),
    ],
)
def test_check_reports_problems_in_the_spec_format(
    rules_copy: Path, mutation: tuple[str, str, str], expected: str
) -> None:
    file, old, new = mutation
    edit(rules_copy / file, old, new)
    r = crmseg("rules", "check", "--rules", str(rules_copy))
    assert r.returncode == 1
    assert re.search(expected, r.stderr), r.stderr


def test_check_reports_a_dimension_cycle(rules_copy: Path) -> None:
    # icp_score now reads tier, which reads icp_score
    edit(
        rules_copy / "icp_score.toml",
        "when   = \"industry in ['Software', 'Financial Services']\"",
        "when   = \"tier == 'Tier 1' or industry in ['Software', 'Financial Services']\"",
    )
    r = crmseg("rules", "check", "--rules", str(rules_copy))
    assert r.returncode == 1
    assert re.search(
        r"icp_score\.toml, .*tier\.toml: dimension cycle: (icp_score -> tier -> icp_score|tier -> icp_score -> tier)",
        r.stderr,
    ), r.stderr


def test_check_reports_broken_toml_with_file_and_line(rules_copy: Path) -> None:
    edit(rules_copy / "tier.toml", 'dimension   = "tier"', 'dimension   = "tier')
    r = crmseg("rules", "check", "--rules", str(rules_copy))
    assert r.returncode == 1
    assert re.search(r"tier\.toml: invalid TOML: .*line 2", r.stderr), r.stderr


def test_check_fails_on_a_failing_inline_test(rules_copy: Path) -> None:
    edit(rules_copy / "tier.toml", 'expect  = "Tier 1"', 'expect  = "Tier 2"')
    r = crmseg("rules", "check", "--rules", str(rules_copy), "--engine", "native")
    assert r.returncode == 1
    assert "test \"hot software account\": expected 'Tier 2', got 'Tier 1' (\"tier-1\" fired)" in r.stderr


# ---------------------------------------------------------------- audit
@pytest.mark.parametrize("engine", ENGINES)
def test_audit_writes_spec_json_and_csv(tmp_path: Path, engine: str) -> None:
    j, c = tmp_path / "a.json", tmp_path / "a.csv"
    r = crmseg(
        "audit",
        "--source",
        "examples/accounts.csv",
        "--rules",
        "rules",
        "--engine",
        engine,
        "--json",
        str(j),
        "--csv",
        str(c),
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(j.read_text())
    with (ROOT / "examples" / "accounts.csv").open(encoding="utf-8") as fh:
        ids = [row["id"] for row in csv.DictReader(fh)]
    assert doc["accounts"] == len(ids)
    assert set(doc) >= {"accounts", "dimensions", "changes", "quality", "warnings"}
    for dim in ("segment", "tier", "stage", "icp_score"):
        d = doc["dimensions"][dim]
        assert sum(d["counts"].values()) == len(ids) and "(none)" in d["counts"]
        assert set(doc["changes"][dim]) == {"unchanged", "changed", "added", "cleared"}
        assert sum(doc["changes"][dim].values()) + doc["pinned"]["would_change"][dim] == len(ids)
    assert set(doc["dimensions"]["segment"]["rules"]) == {"enterprise", "digital-native", "mid-market", "smb"}
    assert doc["quality"]["employees"]["invalid"] > 0  # the sample has "n/a" employee counts
    with c.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    dims = ["icp_score", "segment", "stage", "tier"]
    header = ["id"] + [f"{d}{s}" for d in dims for s in ("", "_rule", "_current")]
    assert sorted(rows[0].keys()) == sorted(header)
    assert [r["id"] for r in rows] == ids
    seg_counts: dict[str, int] = {}
    for row in rows:
        seg_counts[row["segment"] or "(none)"] = seg_counts.get(row["segment"] or "(none)", 0) + 1
    assert {k: v for k, v in doc["dimensions"]["segment"]["counts"].items() if v} == seg_counts


def test_audit_engines_agree_on_the_sample(tmp_path: Path) -> None:
    if len(ENGINES) < 2:
        pytest.skip("durable-rules not importable")
    outs = []
    for engine in ENGINES:
        c = tmp_path / f"{engine}.csv"
        assert (
            crmseg(
                "audit",
                "--source",
                "examples/accounts.csv",
                "--rules",
                "rules",
                "--engine",
                engine,
                "--csv",
                str(c),
                "-q",
            ).returncode
            == 0
        )
        outs.append(c.read_text())
    assert outs[0] == outs[1]


def test_audit_html_is_self_contained_and_opens_no_connection(tmp_path: Path) -> None:
    """The audit runs with every outgoing connection refused, and the HTML needs none."""
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(
        "import socket\n"
        "def _refuse(*a, **k):\n    raise OSError('network disabled by test')\n"
        "socket.socket.connect = _refuse\nsocket.socket.connect_ex = _refuse\nsocket.create_connection = _refuse\n"
    )
    h = tmp_path / "a.html"
    r = crmseg_process(  # a new interpreter, so the guard's sitecustomize runs before anything else
        "audit",
        "--source",
        "examples/accounts.csv",
        "--rules",
        "rules",
        "--html",
        str(h),
        env={"PYTHONPATH": str(guard)},
    )
    assert r.returncode == 0, r.stderr
    html = h.read_text(encoding="utf-8")
    assert html.count("<svg") >= 5  # one per dimension + the would-change chart
    for ref in ("http://", "https://", "<script src", "<link", "@import", "url("):
        assert ref not in html
    assert "HTML report written to" in r.stdout


def test_audit_refuses_broken_rules_with_exit_2(rules_copy: Path, tmp_path: Path) -> None:
    edit(rules_copy / "segment.toml", 'when        = "100 <= employees', 'when        = "100 <= employes')
    j = tmp_path / "a.json"
    r = crmseg("audit", "--source", "examples/accounts.csv", "--rules", str(rules_copy), "--json", str(j))
    assert r.returncode == 2
    assert "unknown field 'employes'" in r.stderr
    assert not j.exists()


def test_audit_with_a_config_file(tmp_path: Path) -> None:
    j = tmp_path / "a.json"
    r = crmseg("audit", "--config", "config.example.toml", "--sync", "demo", "--json", str(j), "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(j.read_text())["accounts"] == 400
    r = crmseg("audit", "--config", "config.example.toml", "-q")
    assert r.returncode == 2 and "choose one with --sync" in r.stderr


def test_bad_usage_exits_2() -> None:
    assert crmseg("audit").returncode == 2
    assert crmseg("audit", "--source", "examples/accounts.csv", "--rules", "rules", "--engine", "rete").returncode == 2


# ---------------------------------------------------------------- explain
@pytest.mark.parametrize("engine", ENGINES)
def test_explain_shows_values_fired_rules_and_failed_conditions(engine: str) -> None:
    account = {"id": "a1", "employees": 250, "country": "United States", "industry": "SaaS", "tech_stack": "Salesforce"}
    r = crmseg("rules", "explain", "--rules", "rules", "--account", json.dumps(account), "--engine", engine, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    dims = {d["name"]: d for d in doc["dimensions"]}
    seg = dims["segment"]
    assert seg["value"] == "Mid-Market" and seg["fired"] == ["mid-market"]
    first = seg["rules"][0]
    assert first["name"] == "enterprise" and not first["matched"]
    # each side of the `or` failed: one on a value, one on a missing field
    assert any("employees = 250" in f for f in first["failed"])
    assert any("annual_revenue is missing" in f for f in first["failed"])
    score = dims["icp_score"]
    matched = {t["name"]: t["outcome"] for t in score["rules"] if t["matched"]}
    assert set(score["fired"]) == set(matched) and score["value"] == sum(matched.values())
    assert "target-market" in matched  # "United States" normalized to US


def test_explain_from_a_source_file_as_text() -> None:
    r = crmseg("rules", "explain", "--rules", "rules", "--source", "examples/accounts.csv", "--id", "acc-000002")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("account acc-000002")
    assert re.search(r"^segment = \S", r.stdout, re.M)
    assert "FIRED" in r.stdout and "false: " in r.stdout
    missing = crmseg("rules", "explain", "--rules", "rules", "--source", "examples/accounts.csv", "--id", "nope")
    assert missing.returncode == 2 and "no record with id 'nope'" in missing.stderr


def _big_sample(tmp_path: Path, n: int) -> Path:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from make_sample_accounts import COLUMNS, generate
    finally:
        sys.path.pop(0)
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerows(generate(n, seed=7))
    return path


def test_audit_shows_a_progress_bar_on_a_tty(tmp_path: Path) -> None:
    import pty

    source = _big_sample(tmp_path, 20_000)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crmseg",
            "audit",
            "--source",
            str(source),
            "--rules",
            "rules",
            "--engine",
            "native",
            "--json",
            str(tmp_path / "a.json"),
        ],
        cwd=ROOT,
        stdin=slave,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=120) == 0
    os.close(master)
    assert b"auditing:" in seen and b"accounts" in seen


def test_audit_logs_plain_progress_lines_off_a_terminal(tmp_path: Path) -> None:
    source = _big_sample(tmp_path, 50_000)
    r = crmseg(
        "audit", "--source", str(source), "--rules", "rules", "--engine", "native", "--json", str(tmp_path / "a.json")
    )
    assert r.returncode == 0, r.stderr
    assert re.search(r"^audit: 50,000 accounts evaluated \([\d,]+/s\)$", r.stderr, re.M), r.stderr
    assert "\x1b[" not in r.stderr
