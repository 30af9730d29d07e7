"""Terminal report (rich)."""

from __future__ import annotations

import io
import json

from rich.console import Console

from crmseg.audit.summary import AuditSummary
from crmseg.model import DimResult
from crmseg.report.terminal import render
from tests.dims import Dim


def summary() -> AuditSummary:
    dims = [
        Dim(
            "segment",
            values=["Enterprise", "SMB"],
            rule_names=["ent", "smb", "dead-rule"],
            description="Firmographic segments",
        ),
        Dim("icp_score", kind="score", rule_names=["fit", "intent"]),
    ]
    s = AuditSummary(dims, ["employees", "industry"])
    for i in range(1000):
        if i < 700:
            seg = DimResult("SMB", ("smb",))
        elif i < 950:
            seg = DimResult("Enterprise", ("ent",))
        else:
            seg = DimResult(None)
        score = DimResult(30.0, ("fit",)) if i % 2 else DimResult(0)
        current = {"segment": "SMB" if i < 400 else None, "icp_score": "30" if i % 4 == 1 else None}
        s.add(str(i), {"segment": seg, "icp_score": score}, current)
    s.metadata.update(source="accounts.csv", engine="native", duration_s=1.25)
    s.finish({"employees": {"missing": 250, "invalid": 4}}, ["note: [bold]not markup[/bold]"])
    return s


def render_text(data: object, width: int = 120) -> str:
    buf = io.StringIO()
    render(data, Console(file=buf, width=width))  # type: ignore[arg-type]
    return buf.getvalue()


def test_render_contains_figures() -> None:
    out = render_text(summary())
    assert "1,000 accounts" in out
    assert "accounts.csv" in out and "native" in out and "1.25 s" in out
    for text in (
        "segment",
        "Firmographic segments",
        "SMB",
        "700",
        "70%",
        "Enterprise",
        "250",
        "25%",
        "(none)",
        "50",
        "5%",
        "icp_score",
        "mean 15",
        "ent",
        "smb",
    ):
        assert text in out, text
    assert "Never fired: dead-rule" in out
    # would change: segment unchanged 400 (SMB=SMB) + 50 (none=none), added 550
    line = next(ln for ln in out.splitlines() if ln.startswith("segment ") and "450" in ln)
    assert line.split()[1:8] == ["450", "0", "550", "0", "0", "550", "55%"]  # ... cleared, pinned, would write
    assert "Data quality" in out and "employees" in out and "industry" in out
    assert "[bold]not markup[/bold]" in out
    assert "Warnings (1)" in out or "Warnings (2)" in out


def test_value_rows_in_the_declared_values_order_none_last() -> None:
    out = render_text(summary())  # SMB holds 700, Enterprise 250: the declared order wins over counts
    ent, smb, none = (out.index(f"\n{x} ") for x in ("Enterprise", "SMB", "(none)"))
    assert ent < smb < none


def test_no_colour_codes_when_not_a_tty() -> None:
    assert "\x1b[" not in render_text(summary())


def test_render_from_json_and_narrow_console() -> None:
    data = json.loads(json.dumps(summary().to_json()))
    out = render_text(data, width=60)
    assert "1,000 accounts" in out and "700" in out
    assert max(len(line) for line in out.splitlines()) <= 60


def test_render_empty_summary() -> None:
    s = AuditSummary([], [])
    s.finish({})
    out = render_text(s)
    assert "0 accounts" in out and "No warnings." in out
