"""``rules explain`` (issue 10, point 6): the CRM's current tag beside the computed one, a
warning for unknown ``--account`` fields, values written as the rule language writes them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from crmseg.rules.explain import rule_text

from .cli_run import CliResult, crmseg

ROOT = Path(__file__).resolve().parents[1]


def explain(*args: str) -> CliResult:
    return crmseg(
        "rules",
        "explain",
        "--rules",
        "rules",
        "--engine",
        "native",
        "--as-of",
        "2026-11-01",
        *args,
        cwd=ROOT,
        env={"NO_COLOR": "1"},
    )


@pytest.mark.parametrize(
    "value, text",
    [
        (("Salesforce",), "['Salesforce']"),
        (False, "false"),
        (True, "true"),
        ("it's", "'it\\'s'"),
        (None, "null"),
        (datetime(2026, 10, 20, 9, tzinfo=UTC), "2026-10-20T09:00:00Z"),
        (date(2026, 1, 2), "2026-01-02"),
        (250, "250"),
        (1.5, "1.5"),
    ],
)
def test_values_as_the_rule_language_writes_them(value: object, text: str) -> None:
    assert rule_text(value) == text


def test_explain_shows_current_tags_and_what_would_change() -> None:
    account = {
        "id": "x",
        "employees": 5000,
        "tech_stack": "GCP;SAP",
        "is_customer": "false",
        "crmseg_segment": "SMB",
        "crmseg_tier": "Tier 1",
    }
    r = explain("--account", json.dumps(account))
    assert r.returncode == 0, r.stderr
    assert "segment = Enterprise   (CRM now: SMB; would change)" in r.stdout
    assert "stage = " in r.stdout and "(CRM now: (none); would be set)" in r.stdout
    assert "(tech_stack = ['Google Cloud', 'SAP'])" in r.stdout and "('Google Cloud'" not in r.stdout
    assert "warning" not in r.stderr
    doc = json.loads(explain("--account", json.dumps(account), "--json").stdout)
    seg = next(d for d in doc["dimensions"] if d["name"] == "segment")
    assert (seg["value"], seg["current"], seg["change"]) == ("Enterprise", "SMB", "changed")


def test_explain_from_a_source_file_reads_the_current_tags() -> None:
    r = explain("--source", "examples/accounts.csv", "--id", "acc-000001")
    assert r.returncode == 0, r.stderr
    assert "(CRM now: SMB; unchanged)" in r.stdout or "(CRM now: SMB; would change)" in r.stdout


def test_explain_warns_about_an_unknown_field() -> None:
    r = explain("--account", json.dumps({"employes": 300, "industry": "Software"}))
    assert r.returncode == 0
    assert (
        "warning: --account field 'employes' is read by no rule and declared by no mapping field, so it changes "
        "nothing — did you mean 'employees'?"
    ) in r.stderr
    assert "--account field 'industry'" not in r.stderr
