"""The README's "Review your segments" snippet runs as written (bash, in a folder laid out like
the checkout) and writes what it says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_run import ROOT, SECRET_VARS


def _snippet(n: int = 0) -> str:
    """The ``n``-th bash block of the README's "Review your segments" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Review your segments", 1)
    assert len(section) == 2, "README lost its 'Review your segments' section"
    return section[1].split("\n## ", 1)[0].split("```bash")[n + 1].split("```", 1)[0]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_readme_review_snippet_runs_as_written(tmp_path):
    for name in ("rules", "connectors", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").mkdir()
    os.symlink(Path(sys.executable).parent, tmp_path / ".venv" / "bin")  # `.venv/bin/crmseg` as in the checkout
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env.update(NO_COLOR="1", COLUMNS="100")
    res = subprocess.run(
        ["bash", "-c", "set -e\n" + _snippet()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out  # no alert: the sample plants no effect
    assert "Traceback" not in out
    assert "crmseg review  2026-07-01 – 2026-09-30 (vs 2026-04-01 – 2026-06-30)" in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) <= 100  # readable in 100 columns
    doc = json.loads((tmp_path / "review.json").read_text(encoding="utf-8"))
    assert doc["deals"]["read"] == 336 and doc["deals"]["closed"] > 0
    assert set(doc["dimensions"]) == {"segment", "tier", "stage", "icp_score"}
    assert doc["dimensions"]["tier"]["calibration"] and doc["dimensions"]["icp_score"]["calibration"]
    assert list(doc["viability"]) == ["segment"]
    assert any("no tag history (files)" in w for w in doc["warnings"])
    html = (tmp_path / "review.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 9 and "Viability of segment" in html
    assert (tmp_path / "review.md").read_text(encoding="utf-8").startswith("# Segment review")


# A walk-through of a sandbox, a sync and a review as processes (~8 s): CI's long set runs it.
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_readme_review_against_the_sandbox_runs_as_written_and_finds_the_planted_effects(tmp_path):
    for name in ("rules", "connectors"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").mkdir()
    os.symlink(Path(sys.executable).parent, tmp_path / ".venv" / "bin")
    port = _free_port()
    script = _snippet(1).replace("8766", str(port))  # the README's port may be taken here
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env.update(NO_COLOR="1", COLUMNS="100")
    res = subprocess.run(
        ["bash", "-c", "set -e\n" + script + "\nwait"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert res.returncode in (0, 143), out  # the sandbox ends on the snippet's kill
    assert "Traceback" not in out and "review exit 1: alerts fired" in out, out
    doc = json.loads((tmp_path / "crm-review.json").read_text(encoding="utf-8"))
    assert doc["deals"]["read"] > 7000
    alerts = " ".join(a if isinstance(a, str) else json.dumps(a) for a in doc["alerts"])
    assert "Enterprise" in alerts and "Tier 1" in alerts, alerts
    assert (tmp_path / "crm-review.html").read_text(encoding="utf-8").count("<svg") >= 3


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
