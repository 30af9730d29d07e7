"""``--as-of DATE`` (issue 10, point 4): audits and explanations that do not move with the calendar."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crmseg.cli import cli
from crmseg.cli.options import parse_as_of

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "accounts.csv"
RULES = ROOT / "rules"


def _clock(monkeypatch: pytest.MonkeyPatch, today: datetime) -> None:
    """Make ``datetime.now`` in the CLI and the pipeline return ``today``."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return today

    monkeypatch.setattr("crmseg.cli.audit.datetime", Clock)
    monkeypatch.setattr("crmseg.cli.rules.datetime", Clock)
    monkeypatch.setattr("crmseg.audit.plan.datetime", Clock)


def _audit(tmp: Path, *extra: str) -> dict[str, Any]:
    out = tmp / "a.json"
    res = CliRunner().invoke(
        cli,
        [
            "audit",
            "--source",
            str(SAMPLE),
            "--rules",
            str(RULES),
            "--engine",
            "native",
            "-q",
            "--json",
            str(out),
            *extra,
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text(encoding="utf-8"))
    data.pop("run")  # start time and duration
    return data


def test_parse_as_of() -> None:
    assert parse_as_of("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_as_of("2026-11-01T09:30:00+02:00") == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_as_of("yesterday")


def test_audit_with_as_of_is_the_same_on_any_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = {}
    for day in (datetime(2026, 11, 2, tzinfo=UTC), datetime(2027, 6, 30, tzinfo=UTC)):
        _clock(monkeypatch, day)
        runs[day, "as-of"] = _audit(tmp_path, "--as-of", "2026-11-01")
        runs[day, "now"] = _audit(tmp_path)
    (d1, _), (d2, _) = next(iter(runs)), list(runs)[2]
    assert runs[d1, "as-of"] == runs[d2, "as-of"]
    assert runs[d1, "now"] != runs[d2, "now"]  # without it, the recency rules follow the calendar


def test_the_bundled_demo_does_not_decay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's demo passes --as-of 2026-11-01: the shipped recency rules fire on the sample."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()[0]
    assert "--as-of 2026-11-01" in first
    _clock(monkeypatch, datetime(2030, 1, 1, tzinfo=UTC))
    hits = _audit(tmp_path, "--as-of", "2026-11-01")["dimensions"]["icp_score"]["rules"]
    assert hits["recent-activity"] > 0 and hits["activity-this-quarter"] > 0


def test_audit_report_shows_the_as_of_date(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli, ["audit", "--source", str(SAMPLE), "--rules", str(RULES), "--engine", "native", "--as-of", "2026-11-01"]
    )
    assert res.exit_code == 0, res.output
    assert "as of 2026-11-01T00:00:00+00:00" in " ".join(res.output.split())


def test_explain_counts_days_since_from_as_of() -> None:
    account = json.dumps({"id": "a1", "last_activity_at": "2026-10-20T00:00:00Z"})
    res = CliRunner().invoke(
        cli,
        [
            "rules",
            "explain",
            "--rules",
            str(RULES),
            "--engine",
            "native",
            "--account",
            account,
            "--as-of",
            "2026-11-01",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    icp = next(d for d in json.loads(res.output)["dimensions"] if d["name"] == "icp_score")
    assert "recent-activity" in icp["fired"]
    later = CliRunner().invoke(
        cli,
        [
            "rules",
            "explain",
            "--rules",
            str(RULES),
            "--engine",
            "native",
            "--account",
            account,
            "--as-of",
            "2027-01-01",
            "--json",
        ],
    )
    icp = next(d for d in json.loads(later.output)["dimensions"] if d["name"] == "icp_score")
    assert "recent-activity" not in icp["fired"]


def test_a_bad_as_of_is_a_usage_error() -> None:
    res = CliRunner().invoke(cli, ["audit", "--source", str(SAMPLE), "--rules", str(RULES), "--as-of", "soon"])
    assert res.exit_code == 2 and "not a date like 2026-11-01" in res.output
