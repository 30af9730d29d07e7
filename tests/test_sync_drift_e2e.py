"""``crmseg drift`` over a real history: three syncs of the bundled sample with rule edits
between them, checked against a hand computation from three independent audits of the same
accounts (the audit CSV's computed and current values), not from the sync's own state."""

from __future__ import annotations

import csv
import itertools
import json
import math
import shutil
from collections import Counter
from pathlib import Path

from crmseg.tags import tag_text

from .cli_run import CliResult, crmseg
from .sync_env import ROOT, make_static

LABEL_DIMS = ("segment", "tier", "stage")
EPS = 1e-4


def _run(tmp: Path, *args: str) -> CliResult:
    res = crmseg(*args, cwd=tmp)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def _audit(tmp: Path, name: str) -> dict[str, dict[str, str]]:
    out = tmp / f"{name}.csv"
    _run(
        tmp,
        "audit",
        "--source",
        "accounts.csv",
        "--rules",
        "rules",
        "--mapping",
        str(ROOT / "connectors" / "csv.toml"),
        "--engine",
        "native",
        "--csv",
        str(out),
        "-q",
    )
    with open(out, newline="", encoding="utf-8") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def _psi(first: Counter[str], last: Counter[str]) -> float:
    n1, n2 = sum(first.values()), sum(last.values())
    total = 0.0
    for label in set(first) | set(last):
        e = first[label] / n1 or EPS
        a = last[label] / n2 or EPS
        total += (a - e) * math.log(a / e)
    return total


def test_drift_matrix_and_psi_match_a_hand_computation(tmp_path):
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    make_static(tmp_path / "rules")
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "accounts.csv")
    (tmp_path / "config.toml").write_text(
        '[state]\npath = "state.sqlite"\n[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\n'
        f'mapping = "{ROOT / "connectors" / "csv.toml"}"\nrules = "rules"\nengine = "native"\n',
        encoding="utf-8",
    )
    with open(tmp_path / "accounts.csv", newline="", encoding="utf-8") as fh:
        pinned = {r["id"] for r in csv.DictReader(fh) if r["crmseg_pin"].strip().lower() in ("true", "1", "yes")}
    seg, tier = tmp_path / "rules" / "segment.toml", tmp_path / "rules" / "tier.toml"
    edits = [
        lambda: None,
        lambda: seg.write_text(
            seg.read_text().replace("employees >= 1000 or", "employees >= 400 or"), encoding="utf-8"
        ),
        lambda: tier.write_text(tier.read_text().replace("icp_score >= 70", "icp_score >= 40"), encoding="utf-8"),
    ]
    audits = []
    for edit in edits:
        edit()
        audits.append(_audit(tmp_path, f"audit{len(audits)}"))
        _run(tmp_path, "sync", "--config", "config.toml", "-q")

    # hand computation: what each run recorded, and the moves between consecutive runs
    def recorded(audit: dict[str, dict[str, str]], dim: str, rid: str) -> str:
        value = audit[rid][f"{dim}_current"] if rid in pinned else audit[rid][dim]
        return tag_text(value) or "(none)"

    ids = list(audits[0])
    expect_matrix = {d: Counter() for d in LABEL_DIMS}
    expect_initial = {d: Counter() for d in LABEL_DIMS}  # first evaluation out of (none): the backfill
    for d in LABEL_DIMS:
        for rid in ids:
            if rid in pinned:
                continue
            chain = [tag_text(audits[0][rid][f"{d}_current"]) or "(none)"] + [recorded(a, d, rid) for a in audits]
            for step, (frm, to) in enumerate(itertools.pairwise(chain)):
                if frm == to:
                    continue
                if step == 0 and frm == "(none)":
                    expect_initial[d][to] += 1
                else:
                    expect_matrix[d][(frm, to)] += 1
    assert sum(expect_matrix["segment"].values()) and sum(expect_matrix["tier"].values())
    assert sum(expect_initial["segment"].values())

    res = _run(tmp_path, "drift", "--config", "config.toml", "--json", "drift.json", "--html", "drift.html")
    report = json.loads((tmp_path / "drift.json").read_text())
    assert [r["id"] for r in report["runs"]] == [1, 2, 3]
    for d in LABEL_DIMS:
        got = report["dimensions"][d]
        matrix = Counter({(f, t): n for f, row in got["transitions"].items() for t, n in row.items()})
        assert matrix == expect_matrix[d], d
        assert got["initial_load"] == dict(expect_initial[d]), d
        first = Counter(recorded(audits[0], d, rid) for rid in ids)
        last = Counter(recorded(audits[2], d, rid) for rid in ids)
        assert report["runs"][0]["counts"][d] == dict(first)
        assert report["runs"][2]["counts"][d] == dict(last)
        assert math.isclose(got["psi"], _psi(first, last), rel_tol=1e-9, abs_tol=1e-12), d
        flag = "major" if got["psi"] >= 0.25 else "moderate" if got["psi"] >= 0.1 else "none"
        assert got["flag"] == flag
    assert report["dimensions"]["segment"]["psi"] > 0 and "segment" in res.stdout
