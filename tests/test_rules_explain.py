"""``crmseg.rules.explain``: why an account got its tags.

Label dimensions: the rule that fired and, for every earlier rule, the conditions that were
false with the values they read. Score dimensions: every rule, matching ones with their points,
the others with their reasons. Results come from each engine in turn (native and durable).

"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from crmseg.rules.engines import make_engine
from crmseg.rules.explain import DimExplanation, RuleTrace, explain, render_text
from crmseg.rules.loader import load_rules
from crmseg.rules.model import RuleSet
from tests.rule_env import ENGINES, NOW, TYPES

SEGMENT = """
dimension = "segment"
default = "Unsegmented"

[[rule]]
name = "enterprise"
when = "employees >= 1000 or annual_revenue >= 500_000_000"
value = "Enterprise"

[[rule]]
name = "mid-market"
when = "100 <= employees < 1000 and country in ['US', 'CA']"
value = "Mid-Market"

[[rule]]
name = "smb"
when = "employees < 100"
value = "SMB"

[[rule]]
name = "catch-all"
when = "true"
value = "Other"
"""

ICP = """
dimension = "icp_score"
kind = "score"
default = 5

[[rule]]
name = "big"
when = "employees >= 200"
points = 25

[[rule]]
name = "crm"
when = "'Salesforce' in tech_stack or 'HubSpot' in tech_stack"
points = 10

[[rule]]
name = "software"
when = "lower(industry) == 'software'"
points = 7.5

[[rule]]
name = "prospect"
when = "not is_customer"
points = 3
"""

TIER = """
dimension = "tier"
[[rule]]
name = "hot"
when = "icp_score >= 40"
value = "Hot"
[[rule]]
name = "warm"
when = "icp_score >= 20"
value = "Warm"
"""


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


def load(tmp_path: Path, files: dict[str, str]) -> RuleSet:
    root = tmp_path / "rules"
    root.mkdir(exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return load_rules(root, TYPES)


def run(engine: str, rules: RuleSet, account: dict[str, Any]) -> list[DimExplanation]:
    eng = make_engine(engine, rules, NOW)
    try:
        results = eng.evaluate(account)
    finally:
        eng.close()
    expl = explain(rules, account, results, NOW)
    # the explanation agrees with the engine's own result
    for d in expl:
        assert (d.value, d.fired) == (results[d.name].value, results[d.name].rules)
    return expl


def dim(expl: list[DimExplanation], name: str) -> DimExplanation:
    [d] = [d for d in expl if d.name == name]
    return d


def why_not(expl: list[DimExplanation], dimension: str, rule: str) -> list[str]:
    [t] = [t for t in dim(expl, dimension).rules if t.name == rule]
    assert not t.matched
    return t.failed


# ------------------------------------------------------------------ label dimensions
def test_label_fired_rule_and_why_earlier_rules_failed(tmp_path: Path, engine: str) -> None:
    rules = load(tmp_path, {"segment.toml": SEGMENT})
    seg = dim(run(engine, rules, {"employees": 250, "country": "US"}), "segment")
    assert (seg.kind, seg.value, seg.fired, seg.default_used) == ("label", "Mid-Market", ("mid-market",), False)
    # rules after the one that fired are not tried
    assert seg.rules == [
        RuleTrace(
            "enterprise",
            False,
            "employees >= 1000 or annual_revenue >= 500_000_000",
            "Enterprise",
            ["employees >= 1000  (employees = 250)", "annual_revenue >= 500_000_000  (annual_revenue is missing)"],
        ),
        RuleTrace("mid-market", True, "100 <= employees < 1000 and country in ['US', 'CA']", "Mid-Market", []),
    ]


def test_label_render_text(tmp_path: Path, engine: str) -> None:
    rules = load(tmp_path, {"segment.toml": SEGMENT})
    text = render_text(run(engine, rules, {"employees": 250, "annual_revenue": 1.5e6, "country": "DE"}), "001A")
    assert text.splitlines() == [
        "account 001A",
        "",
        "segment = Other",
        "  no    enterprise -> Enterprise   when: employees >= 1000 or annual_revenue >= 500_000_000",
        "          false: employees >= 1000  (employees = 250)",
        "          false: annual_revenue >= 500_000_000  (annual_revenue = 1500000.0)",
        "  no    mid-market -> Mid-Market   when: 100 <= employees < 1000 and country in ['US', 'CA']",
        "          false: country in ['US', 'CA']  (country = 'DE')",
        "  no    smb -> SMB   when: employees < 100",
        "          false: employees < 100  (employees = 250)",
        "  FIRED catch-all -> Other   when: true",
    ]


@pytest.mark.parametrize(
    "account, reasons",
    [
        # only the first false part of an `and` (here the chained comparison's upper bound)
        ({"employees": 5000, "country": "US"}, ["employees < 1000  (employees = 5000)"]),
        ({"employees": 50, "country": "US"}, ["100 <= employees  (employees = 50)"]),
        ({"country": "US"}, ["100 <= employees  (employees is missing)"]),
        ({"employees": 500}, ["country in ['US', 'CA']  (country is missing)"]),
        ({"employees": 500, "country": ""}, ["country in ['US', 'CA']  (country is missing)"]),
        ({"employees": "500", "country": "US"}, ["100 <= employees  (employees = '500')"]),
    ],
)
def test_label_reasons_name_the_values_read(tmp_path: Path, engine: str, account: dict, reasons: list[str]) -> None:
    text = SEGMENT.replace('when = "employees >= 1000 or', 'when = "annual_revenue >= 1e12 or')
    rules = load(tmp_path, {"segment.toml": text})
    assert why_not(run(engine, rules, account), "segment", "mid-market") == reasons


def test_label_default_used_and_no_default(tmp_path: Path, engine: str) -> None:
    no_catch_all = SEGMENT.split('[[rule]]\nname = "catch-all"')[0]
    rules = load(tmp_path, {"segment.toml": no_catch_all})
    expl = run(engine, rules, {"employees": 250, "country": "FR"})
    seg = dim(expl, "segment")
    assert (seg.value, seg.fired, seg.default_used) == ("Unsegmented", (), True)
    assert [t.name for t in seg.rules] == ["enterprise", "mid-market", "smb"]
    assert all(not t.matched and t.failed for t in seg.rules)
    assert render_text(expl, "x").splitlines()[-1] == "  no rule matched: default Unsegmented"

    rules = load(tmp_path, {"segment.toml": no_catch_all.replace('default = "Unsegmented"\n', "")})
    text = render_text(run(engine, rules, {}), "x").splitlines()
    assert "segment = (none)" in text and text[-1] == "  no rule matched: default (none)"


@pytest.mark.parametrize(
    "when, account, reasons",
    [
        (
            "industry in ['Software', 'Fintech']",
            {"industry": "Retail"},
            ["industry in ['Software', 'Fintech']  (industry = 'Retail')"],
        ),
        ("country not in ['US', 'CA']", {"country": "US"}, ["country != 'US'  (country = 'US')"]),
        (
            "'Salesforce' in tech_stack",
            {"tech_stack": ["HubSpot"]},
            ["'Salesforce' in tech_stack  (tech_stack = ['HubSpot'])"],
        ),
        ("'Salesforce' in tech_stack", {}, ["'Salesforce' in tech_stack  (tech_stack is missing)"]),
        ("'Salesforce' not in tech_stack", {}, ["'Salesforce' not in tech_stack  (tech_stack is missing)"]),
        (
            "contains(industry, 'soft')",
            {"industry": "Software"},
            ["contains(industry, 'soft')  (industry = 'Software')"],
        ),
        ("matches(industry, '^Fin')", {}, ["matches(industry, '^Fin')  (industry is missing)"]),
        ("is_set(country)", {"country": ""}, ["is_set(country)  (country is missing)"]),
        ("lower(country) == 'us'", {"country": "DE"}, ["lower(country) == 'us'  (lower(country) = 'de')"]),
        (
            "days_since(last_activity_at) <= 30",
            {"last_activity_at": NOW - timedelta(days=45, hours=1)},
            ["days_since(last_activity_at) <= 30  (days_since(last_activity_at) = 45)"],
        ),
        (
            "days_since(customer_since) > 365",
            {"customer_since": date(2026, 1, 1)},
            ["days_since(customer_since) > 365  (days_since(customer_since) = 304)"],
        ),
        (
            "days_since(customer_since) > 365",
            {},
            ["days_since(customer_since) > 365  (days_since(customer_since) is missing)"],
        ),
        (
            "employees < annual_revenue",
            {"employees": 10},
            ["employees < annual_revenue  (employees = 10; annual_revenue is missing)"],
        ),
        ("is_customer", {"is_customer": False}, ["is_customer  (is_customer = false)"]),
        ("not is_customer", {"is_customer": True}, ["not (is_customer): it is true"]),
        (
            "not (employees > 5 and country == 'US')",
            {"employees": 6, "country": "US"},
            ["not (employees > 5 and country == 'US'): it is true"],
        ),
        ("false", {}, ["false is always false"]),
        ("country == null", {"country": "US"}, ["country == null is always false"]),
        (
            "employees > 5 and (country == 'US' or is_customer)",
            {"employees": 6, "country": "DE", "is_customer": False},
            ["country == 'US'  (country = 'DE')", "is_customer  (is_customer = false)"],
        ),
    ],
)
def test_reason_for_each_kind_of_condition(
    tmp_path: Path, engine: str, when: str, account: dict, reasons: list[str]
) -> None:
    q = when.replace('"', '\\"')
    rules = load(tmp_path, {"t.toml": f'dimension = "t"\n[[rule]]\nname = "r"\nwhen = "{q}"\nvalue = "yes"\n'})
    assert why_not(run(engine, rules, account), "t", "r") == reasons


# ------------------------------------------------------------------ score dimensions
def test_score_lists_every_rule_with_points_or_reasons(tmp_path: Path, engine: str) -> None:
    rules = load(tmp_path, {"icp.toml": ICP})
    icp = dim(run(engine, rules, {"employees": 250, "industry": "SOFTWARE", "is_customer": True}), "icp_score")
    assert (icp.kind, icp.value, icp.fired, icp.default_used) == ("score", 37.5, ("big", "software"), False)
    assert icp.rules == [
        RuleTrace("big", True, "employees >= 200", 25, []),
        RuleTrace(
            "crm",
            False,
            "'Salesforce' in tech_stack or 'HubSpot' in tech_stack",
            10,
            ["'Salesforce' in tech_stack or 'HubSpot' in tech_stack  (tech_stack is missing)"],
        ),
        RuleTrace("software", True, "lower(industry) == 'software'", 7.5, []),
        RuleTrace("prospect", False, "not is_customer", 3, ["not (is_customer): it is true"]),
    ]


def test_score_render_text(tmp_path: Path, engine: str) -> None:
    rules = load(tmp_path, {"icp.toml": ICP})
    text = render_text(run(engine, rules, {"employees": 250, "tech_stack": ["HubSpot"]}), "42")
    assert text.splitlines() == [
        "account 42",
        "",
        "icp_score = 43",
        "     +25 big   when: employees >= 200",
        "     +10 crm   when: 'Salesforce' in tech_stack or 'HubSpot' in tech_stack",
        "       0 software   when: lower(industry) == 'software'",
        "          false: lower(industry) == 'software'  (lower(industry) is missing)",
        "      +3 prospect   when: not is_customer",
    ]


def test_score_with_no_match_is_the_default(tmp_path: Path, engine: str) -> None:
    rules = load(tmp_path, {"icp.toml": ICP})
    icp = dim(run(engine, rules, {"employees": 10, "is_customer": True}), "icp_score")
    assert (icp.value, icp.fired, icp.default_used) == (5, (), False)
    assert [(t.name, t.matched, len(t.failed)) for t in icp.rules] == [
        ("big", False, 1),
        ("crm", False, 1),
        ("software", False, 1),
        ("prospect", False, 1),
    ]


def test_score_render_negative_points(tmp_path: Path) -> None:
    text = 'dimension = "s"\nkind = "score"\n[[rule]]\nname = "penalty"\nwhen = "not is_customer"\npoints = -5\n'
    rules = load(tmp_path, {"s.toml": text})
    lines = render_text(run("native", rules, {}), "1").splitlines()
    assert lines[2:] == ["s = -5", "      -5 penalty   when: not is_customer"]


# ------------------------------------------------------------------ dimensions reading dimensions
def test_dependent_dimension_shows_the_upstream_value(tmp_path: Path, engine: str) -> None:
    rules = load(tmp_path, {"a_tier.toml": TIER, "b_icp.toml": ICP})
    expl = run(engine, rules, {"employees": 250, "is_customer": True})
    assert [d.name for d in expl] == ["icp_score", "tier"]
    tier = dim(expl, "tier")
    assert (tier.value, tier.fired) == ("Warm", ("warm",))
    assert why_not(expl, "tier", "hot") == ["icp_score >= 40  (icp_score = 30)"]
    # an upstream value in the account is replaced by the computed one
    expl = run(engine, rules, {"employees": 10, "is_customer": True, "icp_score": 99})
    assert why_not(expl, "tier", "hot") == ["icp_score >= 40  (icp_score = 5)"]


def test_upstream_label_without_value_is_missing(tmp_path: Path, engine: str) -> None:
    seg = 'dimension = "segment"\n[[rule]]\nname = "big"\nwhen = "employees >= 1000"\nvalue = "Big"\n'
    motion = 'dimension = "motion"\n[[rule]]\nname = "field"\nwhen = "segment == \'Big\'"\nvalue = "Field"\n'
    rules = load(tmp_path, {"motion.toml": motion, "segment.toml": seg})
    expl = run(engine, rules, {"employees": 10, "segment": "Big"})
    assert why_not(expl, "motion", "field") == ["segment == 'Big'  (segment is missing)"]


def test_explain_does_not_modify_the_account(tmp_path: Path, engine: str) -> None:
    rules = load(tmp_path, {"a_tier.toml": TIER, "b_icp.toml": ICP})
    account = {"employees": 250}
    run(engine, rules, account)
    assert account == {"employees": 250}


def test_explain_sees_the_account_as_the_engines_do(tmp_path: Path, engine: str) -> None:
    """NaN and empty values are missing for explain too, not shown as values."""
    rules = load(tmp_path, {"segment.toml": SEGMENT})
    expl = run(engine, rules, {"employees": 250, "annual_revenue": float("nan"), "country": ""})
    assert "annual_revenue >= 500_000_000  (annual_revenue is missing)" in why_not(expl, "segment", "enterprise")
    assert any("country is missing" in r for r in why_not(expl, "segment", "mid-market"))
