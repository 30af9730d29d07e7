"""Lints in ``crmseg rules check`` (issue 10, point 2): each one triggered and not triggered;
messages name the file, the rule, the column and the fix; ``--strict`` fails on them; audit
and sync show the same warnings; check knows the same columns as ``audit --source``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crmseg.config import load_mapping
from crmseg.normalize.normalizer import Normalizer
from crmseg.rules.lints import lint_rules
from crmseg.rules.loader import load_rules

from .cli_run import crmseg

ROOT = Path(__file__).resolve().parents[1]
CSV_MAPPING = load_mapping(ROOT / "connectors" / "csv.toml")


def write_dim(folder: Path, rules: list[tuple[str, str, str]], *, values: str = "", default: str = "Other") -> Path:
    """A one-dimension label rules folder: (name, when, value) per rule."""
    folder.mkdir(parents=True, exist_ok=True)
    body = f'dimension = "fit"\nkind = "label"\ndefault = "{default}"\n{values}\n'
    for name, when, value in rules:
        body += f'\n[[rule]]\nname = "{name}"\nwhen = "{when}"\nvalue = "{value}"\n'
    (folder / "fit.toml").write_text(body, encoding="utf-8")
    return folder


def lints(tmp: Path, rules: list[tuple[str, str, str]], **kw: str) -> list[str]:
    d = write_dim(tmp / "rules", rules, **kw)
    types = Normalizer(CSV_MAPPING, reserved={"fit"}).field_types()
    return lint_rules(load_rules(d, types), CSV_MAPPING)


# ---------------------------------------------------------------- literals normalization never produces
@pytest.mark.parametrize(
    "when, fix",
    [
        ("industry == 'SaaS'", "turns into 'Software': it can never match — write 'Software'"),
        ("industry in ['Software', 'software']", "turns into 'Software': it can never match — write 'Software'"),
        ("'SFDC' in tech_stack", "turns into 'Salesforce': it can never match — write 'Salesforce'"),
        ("country == 'Germany'", "a country by name where the data holds ISO 3166 codes"),
        ("country != 'United Kingdom'", "write 'GB'"),
        ("lifecycle_stage == 'Customer'", "makes lifecycle_stage lower case: it can never match — write 'customer'"),
    ],
)
def test_a_literal_normalization_never_produces_is_flagged(tmp_path: Path, when: str, fix: str) -> None:
    out = lints(tmp_path, [("saas-fit", when, "Fit")])
    assert len(out) == 1, out
    assert out[0].startswith(f'{tmp_path / "rules" / "fit.toml"}: rule "saas-fit" (when, col ')
    assert "connectors/csv.toml" in out[0] or "ISO" in out[0]
    assert fix in out[0]


def test_the_column_points_at_the_literal(tmp_path: Path) -> None:
    out = lints(tmp_path, [("saas-fit", "employees > 5 and industry == 'SaaS'", "Fit")])
    assert "(when, col 31)" in out[0]  # where 'SaaS' starts
    assert "compares industry to 'SaaS', which " in out[0] and "connectors/csv.toml turns into 'Software'" in out[0]


@pytest.mark.parametrize(
    "when",
    [
        "industry == 'Software'",
        "country in ['US', 'DE']",
        "'Salesforce' in tech_stack",
        "lifecycle_stage == 'customer'",
        "industry == 'Aerospace'",
    ],
)
def test_literals_normalization_can_produce_are_fine(tmp_path: Path, when: str) -> None:
    assert lints(tmp_path, [("ok", when, "Fit")]) == []


# ---------------------------------------------------------------- always false, shadowed, unproduced values
def test_an_always_false_condition(tmp_path: Path) -> None:
    out = lints(tmp_path, [("tiny", "industry == 'Software' and employees > 10 and employees < 5", "Fit")])
    assert len(out) == 1 and 'rule "tiny" (when, col 1)' in out[0]
    assert "is always false: no value of employees meets every bound — fix the bounds" in out[0]
    assert lints(tmp_path, [("tiny", "employees > 10 and employees < 50", "Fit")]) == []


@pytest.mark.parametrize(
    "rules",
    [
        [("big", "employees >= 1000", "A"), ("huge", "employees >= 5000", "B")],
        [("core", "industry in ['Software', 'Retail']", "A"), ("shops", "industry == 'Retail' and employees > 5", "B")],
        [
            ("small", "employees < 100", "A"),
            ("mid", "100 <= employees < 1000", "A"),
            ("some", "50 <= employees < 500", "B"),
        ],
        [("big", "employees >= 1000 or annual_revenue >= 1e8", "A"), ("huge", "employees >= 5000", "B")],
    ],
)
def test_a_rule_earlier_rules_always_preempt(tmp_path: Path, rules: list[tuple[str, str, str]]) -> None:
    out = [w for w in lints(tmp_path, rules) if "can never fire" in w]
    assert len(out) == 1, out
    assert f'rule "{rules[-1][0]}" (when, col 1): can never fire' in out[0]
    assert "move it above, or narrow the earlier rule" in out[0]


@pytest.mark.parametrize(
    "rules",
    [
        [("huge", "employees >= 5000", "B"), ("big", "employees >= 1000", "A")],
        [("big", "employees >= 1000 and industry == 'Software'", "A"), ("huge", "employees >= 5000", "B")],
        [("small", "employees < 100", "A"), ("some", "50 <= employees < 500", "B")],
    ],
)
def test_rules_that_can_fire_are_fine(tmp_path: Path, rules: list[tuple[str, str, str]]) -> None:
    assert lints(tmp_path, rules) == []


def test_a_values_entry_nothing_produces(tmp_path: Path) -> None:
    out = lints(tmp_path, [("a", "employees > 5", "A")], values='values = ["A", "B", "Other"]')
    assert out == [
        (
            f"{tmp_path / 'rules' / 'fit.toml'}: values: 'B' is produced by no rule and is not the default — "
            "add a rule that sets it or remove it from values"
        )
    ]
    assert lints(tmp_path, [("a", "employees > 5", "A")], values='values = ["A", "Other"]') == []


def test_shipped_rules_have_no_warnings() -> None:
    r = crmseg("rules", "check", "--rules", "rules", "--strict", cwd=ROOT)
    assert r.returncode == 0 and "0 warning(s)" in r.stdout, r.stderr


# ---------------------------------------------------------------- --strict, audit, check vs audit --source
def test_strict_turns_warnings_into_failures(tmp_path: Path) -> None:
    write_dim(tmp_path / "rules", [("saas-fit", "industry == 'SaaS'", "Fit")])
    shutil.copytree(ROOT / "connectors", tmp_path / "connectors")
    plain = crmseg("rules", "check", "--rules", "rules", cwd=tmp_path)
    assert plain.returncode == 0 and 'warning: rules/fit.toml: rule "saas-fit" (when, col 13)' in plain.stderr
    strict = crmseg("rules", "check", "--rules", "rules", "--strict", cwd=tmp_path)
    assert strict.returncode == 1 and "(--strict: warnings fail)" in strict.stdout


def test_audit_shows_the_same_warnings_once_at_the_top(tmp_path: Path) -> None:
    write_dim(tmp_path / "rules", [("saas-fit", "industry == 'SaaS'", "Fit")])
    shutil.copytree(ROOT / "connectors", tmp_path / "connectors")
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "a.csv")
    check = crmseg("rules", "check", "--rules", "rules", cwd=tmp_path)
    warning = check.stderr.splitlines()[0].removeprefix("warning: ")
    audit = crmseg("audit", "--source", "a.csv", "--rules", "rules", cwd=tmp_path)
    assert audit.returncode == 0, audit.stderr
    flat = " ".join(audit.stdout.split())
    assert flat.count(" ".join(warning.split())) == 1
    assert flat.index("Rule warnings (1)") < flat.index("fit ")


def test_check_knows_the_columns_audit_source_reads(tmp_path: Path) -> None:
    write_dim(tmp_path / "rules", [("partner", "partner_tier == 'Gold'", "Fit")])
    shutil.copytree(ROOT / "connectors", tmp_path / "connectors")
    (tmp_path / "a.csv").write_text("id,partner_tier\n1,Gold\n2,Silver\n", encoding="utf-8")
    assert crmseg("audit", "--source", "a.csv", "--rules", "rules", "-q", cwd=tmp_path).returncode == 0
    bare = crmseg("rules", "check", "--rules", "rules", cwd=tmp_path)
    assert bare.returncode == 1 and "pass the same --source FILE" in bare.stderr
    same = crmseg("rules", "check", "--rules", "rules", "--source", "a.csv", cwd=tmp_path)
    assert same.returncode == 0, same.stderr


def test_picklist_lint_with_config(tmp_path: Path) -> None:
    from crmseg.sandbox import SandboxServer
    from crmseg.sandbox.cli import write_sandbox_config

    rules = write_dim(
        tmp_path / "rules",
        [("aero", "industry == 'Aerospace'", "Fit"), ("soft", "industry == 'Software'", "Fit")],
        values='values = ["Fit", "Other"]',
    )
    rows = [{"id": "1", "name": "A", "industry": "Technology"}, {"id": "2", "name": "B", "industry": "Banking"}]
    with SandboxServer(
        "salesforce", accounts=rows, mapping=ROOT / "connectors" / "salesforce.toml", rules_dir=rules
    ) as sb:
        config = write_sandbox_config(sb, tmp_path / "config.toml")
        r = crmseg("rules", "check", "--config", str(config), cwd=tmp_path, env=sb.env())
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if "picklist" in line]
    assert len(lines) == 1 and 'rule "aero" (when, col 13)' in lines[0]
    assert "not among the CRM picklist options of Industry" in lines[0] and "'Software'" in lines[0]


def test_sync_prints_the_same_warnings_once_before_it_starts(tmp_path: Path) -> None:
    write_dim(tmp_path / "rules", [("saas-fit", "industry == 'SaaS'", "Fit")])
    shutil.copytree(ROOT / "connectors", tmp_path / "connectors")
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "a.csv")
    (tmp_path / "config.toml").write_text(
        '[syncs.demo]\nconnector = "csv"\npath = "a.csv"\nmapping = "connectors/csv.toml"\nrules = "rules"\n',
        encoding="utf-8",
    )
    check = crmseg("rules", "check", "--rules", "rules", cwd=tmp_path)
    warning = check.stderr.splitlines()[0]
    r = crmseg("sync", "--config", "config.toml", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[0] == warning and r.stderr.count("saas-fit") == 1
