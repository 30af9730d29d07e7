"""Every clause of docs/rule-language.md (and /work/shared/spec/rules.md), on both engines.

Each evaluation test is parametrized over the ``native`` and ``durable`` engines; durable is
skipped where ``crmseg.rules.engines.durable_available()`` is False. Rule sets are loaded
through ``load_rules`` from real files, so the loader, checker, IR and engine all take part.

"""

from __future__ import annotations

import itertools
import tempfile
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from crmseg.errors import RuleError
from crmseg.model import DimResult
from crmseg.rules.engines import durable_available, make_engine
from crmseg.rules.loader import load_rules
from crmseg.rules.model import RuleSet
from crmseg.rules.parser import ExprError, parse
from crmseg.rules.testing import run_tests
from tests.rule_env import ENGINES, NOW, TYPES


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


# ------------------------------------------------------------------ helpers
def toml_str(s: str) -> str:
    """A TOML basic string holding exactly ``s``."""
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def write_rules(base: Path, files: dict[str, str]) -> Path:
    """A fresh rules directory under ``base`` holding ``files``."""
    root = Path(tempfile.mkdtemp(dir=base))
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def load(base: Path, files: dict[str, str], types: dict[str, str] = TYPES) -> RuleSet:
    return load_rules(write_rules(base, files), types)


def evaluate(engine: str, rules: RuleSet, account: dict[str, Any], now: datetime = NOW) -> dict[str, DimResult]:
    eng = make_engine(engine, rules, now)
    try:
        return eng.evaluate(account)
    finally:
        eng.close()


def probe(base: Path, when: str) -> RuleSet:
    """One label dimension ``t`` with one rule ``hit`` (value "yes") guarded by ``when``."""
    return load(base, {"t.toml": f'dimension = "t"\n[[rule]]\nname = "hit"\nwhen = {toml_str(when)}\nvalue = "yes"\n'})


def holds(base: Path, engine: str, when: str, account: dict[str, Any], now: datetime = NOW) -> bool:
    """Whether ``when`` is true for ``account`` on ``engine``."""
    res = evaluate(engine, probe(base, when), account, now)["t"]
    assert (res.value == "yes") == (res.rules == ("hit",))
    return res.value == "yes"


def check_table(base: Path, engine: str, cases: list[tuple[str, dict[str, Any], bool]]) -> None:
    """Evaluate many (when, account, expected) rows; report every wrong row at once."""
    wrong = []
    for when, account, expected in cases:
        got = holds(base, engine, when, account)
        if got is not expected:
            wrong.append(f"{when!r} on {account!r}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------------ literals
@pytest.mark.parametrize(
    "when, account, expected",
    [
        ("employees == 42", {"employees": 42}, True),
        ("employees == 42", {"employees": 43}, False),
        ("employees == 1_000_000", {"employees": 1000000}, True),
        ("employees >= 1_000_000", {"employees": 999_999}, False),
        ("annual_revenue >= 500_000_000", {"annual_revenue": 5e8}, True),
        ("annual_revenue == 2.5", {"annual_revenue": 2.5}, True),
        ("annual_revenue < 2.5", {"annual_revenue": 2.4999}, True),
        ("annual_revenue == .5", {"annual_revenue": 0.5}, True),
        ("annual_revenue == 1_000.25", {"annual_revenue": 1000.25}, True),
        ("annual_revenue == 1e6", {"annual_revenue": 1_000_000.0}, True),
        ("employees == -3", {"employees": -3}, True),
        ("employees > -3", {"employees": -2}, True),
        ("employees > -3", {"employees": -4}, False),
        ("employees == - 3", {"employees": -3}, True),
        ("annual_revenue >= -0.5", {"annual_revenue": -0.25}, True),
        ("annual_revenue >= -0.5", {"annual_revenue": -0.75}, False),
        ("-3 < employees", {"employees": 0}, True),
        # int and float compare numerically, both ways
        ("employees == 5.0", {"employees": 5}, True),
        ("annual_revenue > 2", {"annual_revenue": 2.5}, True),
        ("employees < annual_revenue", {"employees": 2, "annual_revenue": 2.5}, True),
        ("employees == 5", {"employees": 5.0}, True),
        # both quote styles
        ("industry == 'Software'", {"industry": "Software"}, True),
        ('industry == "Software"', {"industry": "Software"}, True),
        ('industry == "Software"', {"industry": "Retail"}, False),
        ('industry == "it\'s"', {"industry": "it's"}, True),
        ("industry == 'say \"hi\"'", {"industry": 'say "hi"'}, True),
        ("industry == '日本 – é'", {"industry": "日本 – é"}, True),
        ("industry == ''", {"industry": "x"}, False),
        # escapes
        ("industry == 'it\\'s'", {"industry": "it's"}, True),
        ('industry == "say \\"hi\\""', {"industry": 'say "hi"'}, True),
        ("industry == 'a\\\\b'", {"industry": "a\\b"}, True),
        ("industry == 'ends\\\\'", {"industry": "ends\\"}, True),
        ("industry == 'a\\nb'", {"industry": "a\nb"}, True),
        ("industry == 'a\\tb'", {"industry": "a\tb"}, True),
        ("industry == 'a\\nb'", {"industry": "a\\nb"}, False),
        # booleans
        ("is_customer == true", {"is_customer": True}, True),
        ("is_customer == true", {"is_customer": False}, False),
        ("is_customer == false", {"is_customer": False}, True),
        ("is_customer != false", {"is_customer": True}, True),
        ("true", {}, True),
        ("false", {}, False),
        ("not false", {}, True),
    ],
)
def test_literals(tmp_path: Path, engine: str, when: str, account: dict[str, Any], expected: bool) -> None:
    assert holds(tmp_path, engine, when, account) is expected


@pytest.mark.parametrize(
    "text, value",
    [
        ("42", 42),
        ("1_000_000", 1_000_000),
        ("2.5", 2.5),
        ("-3", -3),
        ("- 3", -3),
        ("-2.5", -2.5),
        ("0.5", 0.5),
        ("1e3", 1000.0),
        ("'text'", "text"),
        ('"text"', "text"),
        ("'it\\'s'", "it's"),
        ('"a\\"b"', 'a"b'),
        ("'a\\\\b'", "a\\b"),
        ("'\\n\\t'", "\n\t"),
        ("true", True),
        ("false", False),
        ("null", None),
    ],
)
def test_literal_values_parse(text: str, value: Any) -> None:
    node = parse(text)
    assert node.value == value and type(node.value) is type(value)


@pytest.mark.parametrize(
    "text, col",
    [
        ("employees == 1__000", 14),
        ("employees == 1_", 14),
        ("employees == 1_.5", 14),
        ("employees == 1e999", 14),
        ("industry == 'a\\qb'", 15),
        ("industry == 'open", 13),
        ('industry == "open', 13),
        ("employees == --3", 14),
    ],
)
def test_malformed_literals_are_errors_at_their_column(text: str, col: int) -> None:
    with pytest.raises(ExprError) as exc:
        parse(text)
    assert exc.value.col == col, exc.value.message


def test_null_compare_is_always_false_and_warns(tmp_path: Path, engine: str) -> None:
    rules = probe(tmp_path, "country == null")
    assert any("null" in w and "is_set" in w for w in rules.warnings), rules.warnings
    for acc in ({}, {"country": None}, {"country": "US"}):
        assert evaluate(engine, rules, acc)["t"].value is None
    assert holds(tmp_path, engine, "country != null", {"country": "US"}) is False


# ------------------------------------------------------------------ comparisons
@pytest.mark.parametrize(
    "op, five, ten",  # employees == 10 compared with 5 and 10
    [
        ("==", False, True),
        ("!=", True, False),
        ("<", False, False),
        ("<=", False, True),
        (">", True, False),
        (">=", True, True),
    ],
)
def test_each_comparison_operator(tmp_path: Path, engine: str, op: str, five: bool, ten: bool) -> None:
    assert holds(tmp_path, engine, f"employees {op} 5", {"employees": 10}) is five
    assert holds(tmp_path, engine, f"employees {op} 10", {"employees": 10}) is ten
    # a literal on the left reads the same way
    flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
    assert holds(tmp_path, engine, f"5 {flipped} employees", {"employees": 10}) is five
    # text orders like Python strings
    assert (
        holds(tmp_path, engine, f"industry {op} 'M'", {"industry": "Retail"})
        is {"==": False, "!=": True, "<": False, "<=": False, ">": True, ">=": True}[op]
    )


@pytest.mark.parametrize(
    "employees, expected",
    [(99, False), (100, True), (500, True), (999, True), (1000, False), (None, False)],
)
def test_chained_comparison(tmp_path: Path, engine: str, employees: int | None, expected: bool) -> None:
    acc = {} if employees is None else {"employees": employees}
    assert holds(tmp_path, engine, "100 <= employees < 1000", acc) is expected
    assert holds(tmp_path, engine, "not (100 <= employees < 1000)", acc) is (not expected)


def test_text_compares_exactly(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("country == 'US'", {"country": "US"}, True),
            ("country == 'US'", {"country": "us"}, False),
            ("country == 'US'", {"country": "US "}, False),
            ("country != 'US'", {"country": "us"}, True),
            ("lower(country) == 'us'", {"country": "Us"}, True),
        ],
    )


def test_field_against_field(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("employees < annual_revenue", {"employees": 10, "annual_revenue": 10.5}, True),
            ("employees > annual_revenue", {"employees": 10, "annual_revenue": 10.5}, False),
            ("employees < annual_revenue", {"employees": 10}, False),
            ("employees != annual_revenue", {"employees": 10}, False),
            ("not (employees < annual_revenue)", {"annual_revenue": 1.0}, True),
            ("industry == country", {"industry": "X", "country": "X"}, True),
            ("industry != country", {"industry": "X", "country": ""}, False),
        ],
    )


# ------------------------------------------------------------------ membership
def test_membership(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("industry in ['Software', 'Fintech']", {"industry": "Software"}, True),
            ("industry in ['Software', 'Fintech']", {"industry": "Fintech"}, True),
            ("industry in ['Software', 'Fintech']", {"industry": "software"}, False),
            ("industry in ['Software', 'Fintech']", {"industry": "Retail"}, False),
            ("industry in ['Software', 'Fintech']", {}, False),
            ('industry in ["Software"]', {"industry": "Software"}, True),
            ("industry in ['Software',]", {"industry": "Software"}, True),
            ("country not in ['US', 'CA']", {"country": "DE"}, True),
            ("country not in ['US', 'CA']", {"country": "US"}, False),
            ("country not in ['US', 'CA']", {"country": "CA"}, False),
            ("country not in ['US', 'CA']", {}, False),
            ("country not in ['US', 'CA']", {"country": ""}, False),
            ("employees in [1, 2, 3]", {"employees": 2}, True),
            ("employees in [1, 2, 3]", {"employees": 4}, False),
            ("employees not in [1, -2, 3.5]", {"employees": -2}, False),
            ("employees not in [1, -2, 3.5]", {"employees": 7}, True),
            ("is_customer in [true]", {"is_customer": True}, True),
            # a literal in a list field
            ("'Salesforce' in tech_stack", {"tech_stack": ["Salesforce", "HubSpot"]}, True),
            ("'Salesforce' in tech_stack", {"tech_stack": ("HubSpot",)}, False),
            ("'Salesforce' in tech_stack", {"tech_stack": ["salesforce"]}, False),
            ("'Salesforce' in tech_stack", {"tech_stack": ["Salesforce CPQ"]}, False),
            ("'Salesforce' in tech_stack", {"tech_stack": []}, False),
            ("'Salesforce' in tech_stack", {}, False),
            ("'Salesforce' not in tech_stack", {"tech_stack": ["HubSpot"]}, True),
            ("'Salesforce' not in tech_stack", {"tech_stack": ["Salesforce"]}, False),
            # the list is missing (absent, null or empty): 'not in' is false like every other test
            ("'Salesforce' not in tech_stack", {}, False),
            ("'Salesforce' not in tech_stack", {"tech_stack": None}, False),
            ("'Salesforce' not in tech_stack", {"tech_stack": []}, False),
            # plain negation of 'in' is true when the list is missing
            ("not ('Salesforce' in tech_stack)", {}, True),
        ],
    )


# ------------------------------------------------------------------ boolean operators
A, B, C = "employees > 10", "country == 'US'", "industry == 'X'"


def _bool_account(a: bool, b: bool, c: bool) -> dict[str, Any]:
    return {"employees": 20 if a else 5, "country": "US" if b else "DE", "industry": "X" if c else "Y"}


@pytest.mark.parametrize(
    "when, meaning",
    [
        (f"{A} or {B} and {C}", lambda a, b, c: a or (b and c)),
        (f"{A} and {B} or {C}", lambda a, b, c: (a and b) or c),
        (f"not {A} and {B}", lambda a, b, c: (not a) and b),
        (f"not {A} or {B}", lambda a, b, c: (not a) or b),
        (f"{A} and not {B} or {C}", lambda a, b, c: (a and (not b)) or c),
        (f"({A} or {B}) and {C}", lambda a, b, c: (a or b) and c),
        (f"not ({A} or {B})", lambda a, b, c: not (a or b)),
        (f"not not {A}", lambda a, b, c: a),
        (f"{A} and {B} and {C}", lambda a, b, c: a and b and c),
        (f"{A} or {B} or {C}", lambda a, b, c: a or b or c),
        (f"(({A}))", lambda a, b, c: a),
    ],
    ids=[
        "or-and",
        "and-or",
        "not-and",
        "not-or",
        "and-not-or",
        "parens",
        "not-parens",
        "not-not",
        "and3",
        "or3",
        "nested-parens",
    ],
)
def test_boolean_precedence_not_and_or(tmp_path: Path, engine: str, when: str, meaning: Any) -> None:
    rules = probe(tmp_path, when)
    eng = make_engine(engine, rules, NOW)
    try:
        for a, b, c in itertools.product([False, True], repeat=3):
            got = eng.evaluate(_bool_account(a, b, c))["t"].value == "yes"
            assert got is meaning(a, b, c), (when, a, b, c)
    finally:
        eng.close()


def test_bare_bool_field_means_field_equals_true(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("is_customer", {"is_customer": True}, True),
            ("is_customer", {"is_customer": False}, False),
            ("is_customer", {}, False),
            ("is_customer", {"is_customer": None}, False),
            ("is_customer", {"is_customer": ""}, False),
            ("is_customer", {"is_customer": "true"}, False),  # wrong kind at run time: missing
            ("is_customer", {"is_customer": 1}, False),
            ("not is_customer", {"is_customer": False}, True),
            ("not is_customer", {}, True),  # plain negation
            ("is_customer and employees > 5", {"is_customer": True, "employees": 6}, True),
            ("is_customer and employees > 5", {"is_customer": False, "employees": 6}, False),
            ("is_customer or employees > 5", {"employees": 6}, True),
        ],
    )


def test_bare_non_bool_field_is_a_check_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"'employees' is a number, not a condition"):
        probe(tmp_path, "employees")


# ------------------------------------------------------------------ functions
def test_contains_on_text_and_list(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("contains(industry, 'soft')", {"industry": "Microsoft"}, True),
            ("contains(industry, 'soft')", {"industry": "Software"}, False),  # case-sensitive
            ("contains(industry, 'Soft')", {"industry": "Software"}, True),
            ("contains(industry, 'soft')", {}, False),
            ("contains(industry, 'soft')", {"industry": ""}, False),
            ("not contains(industry, 'soft')", {}, True),
            ("contains(tech_stack, 'Salesforce')", {"tech_stack": ["HubSpot", "Salesforce"]}, True),
            ("contains(tech_stack, 'Salesforce')", {"tech_stack": ("HubSpot",)}, False),
            ("contains(tech_stack, 'Salesforce')", {"tech_stack": ["Salesforce CPQ"]}, False),  # list: whole items
            ("contains(tech_stack, 'Salesforce')", {"tech_stack": []}, False),
            ("contains(tech_stack, 'Salesforce')", {}, False),
        ],
    )


def test_startswith_and_endswith(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("startswith(industry, 'Soft')", {"industry": "Software"}, True),
            ("startswith(industry, 'soft')", {"industry": "Software"}, False),
            ("startswith(industry, 'ware')", {"industry": "Software"}, False),
            ("startswith(industry, 'Soft')", {}, False),
            ("startswith(lower(industry), 'soft')", {"industry": "Software"}, True),
            ("endswith(industry, 'ware')", {"industry": "Software"}, True),
            ("endswith(industry, 'WARE')", {"industry": "Software"}, False),
            ("endswith(industry, 'Soft')", {"industry": "Software"}, False),
            ("endswith(industry, 'ware')", {"industry": ""}, False),
            ("not endswith(industry, 'ware')", {}, True),
        ],
    )


def test_matches_is_python_re_search_and_case_sensitive(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("matches(industry, 'soft')", {"industry": "Microsoft"}, True),  # search, not match
            ("matches(industry, '^Soft')", {"industry": "Software"}, True),
            ("matches(industry, '^soft')", {"industry": "Microsoft"}, False),
            ("matches(industry, 'SOFT')", {"industry": "Software"}, False),  # case-sensitive
            ("matches(industry, '(?i)SOFT')", {"industry": "Software"}, True),  # Python inline flag
            ("matches(industry, 'Fin(ance|tech)$')", {"industry": "Fintech"}, True),
            ("matches(industry, 'Fin(ance|tech)$')", {"industry": "Fintechs"}, False),
            ("matches(country, '^[A-Z]{2}$')", {"country": "US"}, True),
            ("matches(country, '^[A-Z]{2}$')", {"country": "USA"}, False),
            ("matches(country, '\\\\d')", {"country": "A1"}, True),  # '\\d' in the expression is the regex \d
            ("matches(country, '\\\\d')", {"country": "AB"}, False),
            ("matches(industry, '\\\\bsoft')", {"industry": "hard soft"}, True),
            ("matches(industry, '\\\\bsoft')", {"industry": "hardsoft"}, False),
            ("matches(industry, 'a.c')", {"industry": "a\nc"}, False),  # '.' excludes newline as in Python
            ("matches(industry, '.')", {}, False),
            ("matches(industry, '^$')", {"industry": ""}, False),  # '' is missing
            ("not matches(industry, 'x')", {}, True),
        ],
    )


def test_lower(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("lower(country) == 'us'", {"country": "US"}, True),
            ("lower(country) == 'us'", {"country": "uS"}, True),
            ("lower(country) == 'US'", {"country": "US"}, False),
            ("lower(country) == 'us'", {}, False),
            ("lower(country) != 'us'", {}, False),
            ("lower(country) in ['us', 'ca']", {"country": "CA"}, True),
            ("lower(industry) == lower(country)", {"industry": "X", "country": "x"}, True),
            ("contains(lower(industry), 'soft')", {"industry": "SOFTWARE"}, True),
        ],
    )


def test_is_set(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("is_set(country)", {"country": "US"}, True),
            ("is_set(country)", {}, False),
            ("is_set(country)", {"country": None}, False),
            ("is_set(country)", {"country": ""}, False),
            ("is_set(employees)", {"employees": 0}, True),
            ("is_set(is_customer)", {"is_customer": False}, True),
            ("is_set(tech_stack)", {"tech_stack": ["x"]}, True),
            ("is_set(tech_stack)", {"tech_stack": []}, False),  # an empty list is missing
            ("is_set(tech_stack)", {"tech_stack": ()}, False),
            ("not is_set(tech_stack)", {"tech_stack": []}, True),
            ("is_set(customer_since)", {"customer_since": date(2020, 1, 1)}, True),
            ("is_set(lower(country))", {"country": "US"}, True),
            ("is_set(lower(country))", {"country": ""}, False),
            ("is_set(days_since(customer_since))", {"customer_since": date(2020, 1, 1)}, True),
            ("is_set(days_since(customer_since))", {}, False),
        ],
    )


def test_days_since_date_and_datetime(tmp_path: Path, engine: str) -> None:
    day = timedelta(days=1)
    check_table(
        tmp_path,
        engine,
        [
            # date: whole days from the date to the run's start date (NOW is 2026-11-01 12:00 UTC)
            ("days_since(customer_since) == 30", {"customer_since": date(2026, 10, 2)}, True),
            ("days_since(customer_since) == 0", {"customer_since": date(2026, 11, 1)}, True),
            ("days_since(customer_since) > 365", {"customer_since": date(2025, 10, 31)}, True),
            ("days_since(customer_since) > 365", {"customer_since": date(2025, 11, 1)}, False),
            ("days_since(customer_since) < 0", {"customer_since": date(2026, 11, 2)}, True),
            # datetime: whole (completed) days
            ("days_since(last_activity_at) == 10", {"last_activity_at": NOW - 10 * day - timedelta(hours=1)}, True),
            ("days_since(last_activity_at) == 9", {"last_activity_at": NOW - 10 * day + timedelta(hours=1)}, True),
            ("days_since(last_activity_at) == 0", {"last_activity_at": NOW - timedelta(hours=23)}, True),
            ("days_since(last_activity_at) <= 30", {"last_activity_at": NOW - 30 * day}, True),
            ("days_since(last_activity_at) <= 30", {"last_activity_at": NOW - 31 * day}, False),
            # an aware datetime in another zone is the same instant
            (
                "days_since(last_activity_at) == 1",
                {"last_activity_at": datetime(2026, 10, 31, 13, 0, tzinfo=timezone(timedelta(hours=2)))},
                True,
            ),
            # a naive datetime is read as UTC
            ("days_since(last_activity_at) == 2", {"last_activity_at": datetime(2026, 10, 30, 11, 0)}, True),
            # a date field may also hold a datetime, and the other way round
            ("days_since(customer_since) == 3", {"customer_since": NOW - 3 * day}, True),
            ("days_since(last_activity_at) == 3", {"last_activity_at": date(2026, 10, 29)}, True),
            # missing
            ("days_since(last_activity_at) <= 30", {}, False),
            ("days_since(last_activity_at) > 30", {}, False),
            ("days_since(last_activity_at) > 30", {"last_activity_at": ""}, False),
            ("not (days_since(last_activity_at) > 30)", {}, True),
        ],
    )


def test_days_since_counts_to_the_run_start(tmp_path: Path, engine: str) -> None:
    rules = probe(tmp_path, "days_since(customer_since) >= 30")
    acc = {"customer_since": date(2026, 10, 2)}
    assert evaluate(engine, rules, acc, now=NOW)["t"].value == "yes"
    assert evaluate(engine, rules, acc, now=NOW - timedelta(days=1))["t"].value is None


# ------------------------------------------------------------------ missing values
MISSING_TABLE = [  # docs/rule-language.md, "Missing values", with an account that has no country
    ("country == 'US'", False),
    ("country != 'US'", False),
    ("country not in ['US', 'CA']", False),
    ("not (country == 'US')", True),
    ("is_set(country)", False),
    ("not is_set(country)", True),
]
MISSING_ACCOUNTS = [  # absent, null or an empty string
    pytest.param({"employees": 5}, id="absent"),
    pytest.param({"employees": 5, "country": None}, id="null"),
    pytest.param({"employees": 5, "country": ""}, id="empty"),
]


@pytest.mark.parametrize("account", MISSING_ACCOUNTS)
@pytest.mark.parametrize("when, expected", MISSING_TABLE, ids=[w for w, _ in MISSING_TABLE])
def test_missing_value_table(tmp_path: Path, engine: str, when: str, expected: bool, account: dict[str, Any]) -> None:
    assert holds(tmp_path, engine, when, account) is expected


@pytest.mark.parametrize("account", MISSING_ACCOUNTS)
def test_every_test_touching_a_missing_value_is_false(tmp_path: Path, engine: str, account: dict[str, Any]) -> None:
    rows = [
        "country == 'US'",
        "country != 'US'",
        "country < 'M'",
        "country >= 'M'",
        "country in ['US']",
        "country not in ['US']",
        "contains(country, 'U')",
        "startswith(country, 'U')",
        "endswith(country, 'S')",
        "matches(country, '.*')",
        "lower(country) == 'us'",
        "lower(country) != 'us'",
        "country == industry",
        "country != industry",
    ]
    acc = dict(account, industry="US")
    check_table(tmp_path, engine, [(w, acc, False) for w in rows] + [(f"not ({w})", acc, True) for w in rows])


def test_missing_numbers_and_lists(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("employees >= 100", {}, False),
            ("employees < 100", {}, False),
            ("employees != 100", {"employees": None}, False),
            ("not (employees >= 100)", {}, True),  # the docs' own example
            ("employees in [1, 2]", {}, False),
            ("employees not in [1, 2]", {}, False),
            ("is_customer == false", {}, False),
            ("is_customer != true", {}, False),
            ("'x' in tech_stack", {"tech_stack": []}, False),
            ("contains(tech_stack, 'x')", {"tech_stack": None}, False),
        ],
    )


# ------------------------------------------------------------------ run-time kind mismatch
def test_runtime_kind_mismatch_behaves_as_missing(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("employees >= 100", {"employees": "250"}, False),
            ("employees < 100", {"employees": "50"}, False),
            ("employees != 5", {"employees": "abc"}, False),
            ("employees == 1", {"employees": True}, False),
            ("not (employees >= 100)", {"employees": "250"}, True),
            ("employees in [250]", {"employees": "250"}, False),
            ("employees not in [1]", {"employees": "250"}, False),
            ("annual_revenue > 1", {"annual_revenue": [5]}, False),
            ("country == 'US'", {"country": 5}, False),
            ("country != 'US'", {"country": 5}, False),
            ("country in ['US']", {"country": ["US"]}, False),
            ("country not in ['US']", {"country": 5}, False),
            ("startswith(country, 'U')", {"country": ["US"]}, False),
            ("endswith(country, 'S')", {"country": 5}, False),
            ("matches(country, '.')", {"country": 5}, False),
            ("lower(country) == 'us'", {"country": ["US"]}, False),
            ("lower(country) != 'us'", {"country": 5}, False),
            ("is_customer == true", {"is_customer": "true"}, False),
            ("is_customer != true", {"is_customer": 0}, False),
            ("days_since(customer_since) > 1", {"customer_since": "2020-01-01"}, False),
            ("days_since(customer_since) < 1", {"customer_since": 5}, False),
            ("'Salesforce' in tech_stack", {"tech_stack": "Salesforce"}, False),
            ("employees < annual_revenue", {"employees": "1", "annual_revenue": 2.0}, False),
        ],
    )


def test_not_in_list_field_holding_text_is_missing(tmp_path: Path, engine: str) -> None:
    assert holds(tmp_path, engine, "'Salesforce' not in tech_stack", {"tech_stack": "HubSpot"}) is False


def test_contains_on_list_field_holding_text_is_missing(tmp_path: Path, engine: str) -> None:
    assert holds(tmp_path, engine, "contains(tech_stack, 'Sales')", {"tech_stack": "Salesforce"}) is False


def test_is_set_on_wrong_kind_is_false(tmp_path: Path, engine: str) -> None:
    assert holds(tmp_path, engine, "is_set(employees)", {"employees": "many"}) is False


# ------------------------------------------------------------------ label dimensions
SEGMENT = """
dimension = "segment"
description = "Firmographic segments"
{default}
values = ["Enterprise", "Mid-Market", "SMB", "Unsegmented"]

[[rule]]
name  = "enterprise"
when  = "employees >= 1000 or annual_revenue >= 500_000_000"
value = "Enterprise"

[[rule]]
name  = "mid-market"
when  = "employees >= 100"
value = "Mid-Market"

[[rule]]
name  = "smb"
when  = "employees >= 1"
value = "SMB"
"""


@pytest.mark.parametrize(
    "account, value, fired",
    [
        ({"employees": 5000}, "Enterprise", ("enterprise",)),  # also matches mid-market and smb: first wins
        ({"employees": 5, "annual_revenue": 6e8}, "Enterprise", ("enterprise",)),
        ({"employees": 250}, "Mid-Market", ("mid-market",)),
        ({"employees": 100}, "Mid-Market", ("mid-market",)),
        ({"employees": 99}, "SMB", ("smb",)),
        ({"employees": 0}, "Unsegmented", ()),
        ({}, "Unsegmented", ()),
    ],
)
def test_label_first_match_wins_and_default(
    tmp_path: Path, engine: str, account: dict, value: str, fired: tuple
) -> None:
    rules = load(tmp_path, {"segment.toml": SEGMENT.format(default='default = "Unsegmented"')})
    assert evaluate(engine, rules, account)["segment"] == DimResult(value, fired)


def test_label_rule_order_is_file_order(tmp_path: Path, engine: str) -> None:
    text = (
        'dimension = "size"\n'
        '[[rule]]\nname = "any"\nwhen = "employees >= 1"\nvalue = "Some"\n'
        '[[rule]]\nname = "big"\nwhen = "employees >= 1000"\nvalue = "Big"\n'
    )
    rules = load(tmp_path, {"size.toml": text})
    assert rules.dimension("size").rule_names == ["any", "big"]
    assert evaluate(engine, rules, {"employees": 5000})["size"] == DimResult("Some", ("any",))


def test_label_default_omitted_is_no_value(tmp_path: Path, engine: str) -> None:
    rules = load(tmp_path, {"segment.toml": SEGMENT.format(default="")})
    assert rules.dimension("segment").default is None
    assert evaluate(engine, rules, {"employees": 0})["segment"] == DimResult(None, ())
    assert evaluate(engine, rules, {"employees": 5})["segment"] == DimResult("SMB", ("smb",))


def test_label_without_values_allows_any_label(tmp_path: Path, engine: str) -> None:
    text = (
        'dimension = "region"\ndefault = "Other"\n'
        '[[rule]]\nname = "na"\nwhen = "country in [\'US\', \'CA\']"\nvalue = "North America"\n'
    )
    rules = load(tmp_path, {"region.toml": text})
    assert evaluate(engine, rules, {"country": "CA"})["region"] == DimResult("North America", ("na",))
    assert evaluate(engine, rules, {"country": "FR"})["region"] == DimResult("Other", ())


# ------------------------------------------------------------------ score dimensions
SCORE = """
dimension = "icp_score"
kind = "score"
{default}

[[rule]]
name   = "big"
when   = "employees >= 1000"
points = 25

[[rule]]
name   = "us"
when   = "country == 'US'"
points = 10

[[rule]]
name   = "no-crm"
when   = "not ('Salesforce' in tech_stack)"
points = -5

[[rule]]
name   = "half"
when   = "industry == 'Software'"
points = 2.5
"""


@pytest.mark.parametrize(
    "account, value, fired",
    [
        ({"employees": 5000, "country": "US", "industry": "Software"}, 32.5, ("big", "us", "no-crm", "half")),
        ({"employees": 5000, "country": "US", "tech_stack": ["Salesforce"]}, 35, ("big", "us")),
        ({"country": "US", "tech_stack": ["Salesforce"]}, 10, ("us",)),
        ({"tech_stack": ["Salesforce"]}, 0, ()),
        ({}, -5, ("no-crm",)),  # negative points, below the default start value
    ],
)
def test_score_sums_matching_points_from_zero(
    tmp_path: Path, engine: str, account: dict, value: float, fired: tuple
) -> None:
    rules = load(tmp_path, {"icp.toml": SCORE.format(default="")})
    assert rules.dimension("icp_score").default == 0
    res = evaluate(engine, rules, account)["icp_score"]
    assert res.value == value and res.rules == fired


@pytest.mark.parametrize("default, start", [("default = 50", 50), ("default = 0", 0), ("default = -10.5", -10.5)])
def test_score_default_is_the_start_value(tmp_path: Path, engine: str, default: str, start: float) -> None:
    rules = load(tmp_path, {"icp.toml": SCORE.format(default=default)})
    assert evaluate(engine, rules, {"tech_stack": ["Salesforce"]})["icp_score"] == DimResult(start, ())
    assert evaluate(engine, rules, {"employees": 1000, "tech_stack": ["Salesforce"]})["icp_score"] == DimResult(
        start + 25, ("big",)
    )


def test_score_rule_matching_through_several_or_branches_counts_once(tmp_path: Path, engine: str) -> None:
    text = (
        'dimension = "s"\nkind = "score"\n'
        '[[rule]]\nname = "any"\nwhen = "employees > 1 or country == \'US\' or is_customer"\npoints = 7\n'
    )
    rules = load(tmp_path, {"s.toml": text})
    assert evaluate(engine, rules, {"employees": 5, "country": "US", "is_customer": True})["s"] == DimResult(
        7, ("any",)
    )


# ------------------------------------------------------------------ enabled = false
def test_disabled_rules_never_run(tmp_path: Path, engine: str) -> None:
    label = (
        'dimension = "seg"\ndefault = "Other"\n'
        '[[rule]]\nname = "off"\nwhen = "employees >= 1"\nvalue = "Off"\nenabled = false\n'
        '[[rule]]\nname = "on"\nwhen = "employees >= 1"\nvalue = "On"\nenabled = true\n'
    )
    score = (
        'dimension = "sc"\nkind = "score"\n'
        '[[rule]]\nname = "off"\nwhen = "employees >= 1"\npoints = 100\nenabled = false\n'
        '[[rule]]\nname = "on"\nwhen = "employees >= 1"\npoints = 1\n'
    )
    rules = load(tmp_path, {"seg.toml": label, "sc.toml": score})
    assert rules.dimension("seg").rule_names == ["on"] and rules.dimension("seg").disabled == ["off"]
    res = evaluate(engine, rules, {"employees": 5})
    assert res["seg"] == DimResult("On", ("on",))
    assert res["sc"] == DimResult(1, ("on",))


def test_disabled_rule_is_still_checked(tmp_path: Path) -> None:
    text = 'dimension = "seg"\n[[rule]]\nname = "off"\nwhen = "employes >= 1"\nvalue = "Off"\nenabled = false\n'
    with pytest.raises(RuleError, match=r"unknown field 'employes' — did you mean 'employees'\?"):
        load(tmp_path, {"seg.toml": text})


# ------------------------------------------------------------------ order between dimensions
ICP = """
dimension = "icp_score"
kind = "score"
[[rule]]
name = "big"
when = "employees >= 1000"
points = 50
[[rule]]
name = "us"
when = "country == 'US'"
points = 30
"""
TIER = """
dimension = "tier"
default = "Cold"
[[rule]]
name = "hot"
when = "icp_score >= 70"
value = "Hot"
[[rule]]
name = "warm"
when = "icp_score >= 40"
value = "Warm"
{tests}
"""


def test_dimension_reading_another_is_evaluated_after_it(tmp_path: Path, engine: str) -> None:
    # "a_tier.toml" sorts before "b_icp.toml": order must come from the dependency, not the file name
    rules = load(tmp_path, {"a_tier.toml": TIER.format(tests=""), "b_icp.toml": ICP})
    assert rules.names == ["icp_score", "tier"]
    assert rules.dimension("tier").depends_on == {"icp_score"}
    res = evaluate(engine, rules, {"employees": 5000, "country": "US"})
    assert res["icp_score"] == DimResult(80, ("big", "us"))
    assert res["tier"] == DimResult("Hot", ("hot",))
    res = evaluate(engine, rules, {"employees": 5000})
    assert res["tier"] == DimResult("Warm", ("warm",))
    assert evaluate(engine, rules, {})["tier"] == DimResult("Cold", ())


def test_chain_of_three_dimensions_and_label_reading_label(tmp_path: Path, engine: str) -> None:
    motion = (
        'dimension = "motion"\n'
        '[[rule]]\nname = "field"\nwhen = "tier == \'Hot\' and segment != \'SMB\'"\nvalue = "Field"\n'
        '[[rule]]\nname = "none"\nwhen = "not is_set(segment)"\nvalue = "Unknown"\n'
    )
    segment = (
        'dimension = "segment"\n[[rule]]\nname = "smb"\nwhen = "employees < 100"\nvalue = "SMB"\n'
        '[[rule]]\nname = "ent"\nwhen = "employees >= 1000"\nvalue = "Ent"\n'
    )
    rules = load(tmp_path, {"a.toml": motion, "b.toml": TIER.format(tests=""), "c.toml": ICP, "d.toml": segment})
    names = rules.names
    assert names.index("icp_score") < names.index("tier") < names.index("motion")
    assert names.index("segment") < names.index("motion")
    res = evaluate(engine, rules, {"employees": 5000, "country": "US"})
    assert (res["segment"].value, res["tier"].value, res["motion"]) == ("Ent", "Hot", DimResult("Field", ("field",)))
    res = evaluate(engine, rules, {"employees": 50, "country": "US"})
    assert (res["segment"].value, res["tier"].value, res["motion"]) == ("SMB", "Cold", DimResult(None, ()))
    # segment has no default: no value, so `not is_set(segment)` is true
    res = evaluate(engine, rules, {"employees": 500, "country": "US"})
    assert (res["segment"].value, res["motion"]) == (None, DimResult("Unknown", ("none",)))


def test_upstream_dimension_value_given_in_the_account_is_replaced(tmp_path: Path, engine: str) -> None:
    """The engine computes every dimension; a stale value in the account does not leak through."""
    rules = load(tmp_path, {"tier.toml": TIER.format(tests=""), "icp.toml": ICP})
    res = evaluate(engine, rules, {"icp_score": 99, "tier": "Stale"})
    assert res["icp_score"] == DimResult(0, ()) and res["tier"] == DimResult("Cold", ())


# ------------------------------------------------------------------ inline tests
TIER_TESTS = """
[[test]]
name    = "score given directly"
account = { icp_score = 75 }
expect  = "Hot"

[[test]]
name    = "score given directly wins over fields"
account = { icp_score = 10, employees = 5000, country = "US" }
expect  = "Cold"

[[test]]
name    = "score computed from fields"
account = { employees = 5000, country = "US" }
expect  = "Hot"

[[test]]
name    = "computed, only one rule"
account = { employees = 5000 }
expect  = "Warm"

[[test]]
name    = "nothing"
account = {}
expect  = "Cold"
"""


def test_inline_tests_upstream_given_or_computed(tmp_path: Path, engine: str) -> None:
    rules = load(tmp_path, {"tier.toml": TIER.format(tests=TIER_TESTS), "icp.toml": ICP})
    outcomes = run_tests(rules, engine, NOW)
    assert [(o.case.name, o.ok, o.message) for o in outcomes] == [
        ("score given directly", True, ""),
        ("score given directly wins over fields", True, ""),
        ("score computed from fields", True, ""),
        ("computed, only one rule", True, ""),
        ("nothing", True, ""),
    ]


def test_inline_test_failure_message(tmp_path: Path, engine: str) -> None:
    bad = '\n[[test]]\nname = "wrong"\naccount = { icp_score = 45 }\nexpect = "Hot"\n'
    root = write_rules(tmp_path, {"tier.toml": TIER.format(tests=bad), "icp.toml": ICP})
    rules = load_rules(root, TYPES)
    [outcome] = run_tests(rules, engine, NOW)
    assert not outcome.ok
    assert outcome.message == f"{root / 'tier.toml'}: test \"wrong\": expected 'Hot', got 'Warm' (\"warm\" fired)"


def test_inline_test_expect_omitted_or_none_means_no_value(tmp_path: Path, engine: str) -> None:
    text = (
        'dimension = "seg"\n[[rule]]\nname = "big"\nwhen = "employees >= 1000"\nvalue = "Big"\n'
        '[[test]]\nname = "omitted"\naccount = { employees = 5 }\n'
        '[[test]]\nname = "none"\naccount = { employees = 5 }\nexpect = "(none)"\n'
        '[[test]]\nname = "wrong"\naccount = { employees = 5000 }\nexpect = "(none)"\n'
    )
    rules = load(tmp_path, {"seg.toml": text})
    outcomes = run_tests(rules, engine, NOW)
    assert [(o.case.name, o.ok) for o in outcomes] == [("omitted", True), ("none", True), ("wrong", False)]
    assert outcomes[2].message.endswith("expected (none), got 'Big' (\"big\" fired)")


def test_inline_score_tests_compare_numbers(tmp_path: Path, engine: str) -> None:
    tests = (
        '\n[[test]]\nname = "int"\naccount = { employees = 5000, country = "US" }\nexpect = 80\n'
        '[[test]]\nname = "float"\naccount = { employees = 5000 }\nexpect = 50.0\n'
        '[[test]]\nname = "zero"\naccount = {}\nexpect = 0\n'
        '[[test]]\nname = "wrong"\naccount = {}\nexpect = 1\n'
    )
    rules = load(tmp_path, {"icp.toml": ICP + tests})
    outcomes = run_tests(rules, engine, NOW)
    assert [(o.case.name, o.ok) for o in outcomes] == [("int", True), ("float", True), ("zero", True), ("wrong", False)]
    assert "expected 1, got 0 (no rule fired)" in outcomes[3].message


def test_inline_test_values_are_toml_values(tmp_path: Path, engine: str) -> None:
    """Arrays are lists, TOML dates and datetimes are dates, ``today`` fixes days_since."""
    text = (
        'dimension = "seg"\n'
        '[[rule]]\nname = "crm"\nwhen = "\'Salesforce\' in tech_stack and is_customer"\nvalue = "CRM"\n'
        '[[rule]]\nname = "recent"\nwhen = "days_since(last_activity_at) <= 30"\nvalue = "Recent"\n'
        '[[rule]]\nname = "old"\nwhen = "days_since(customer_since) > 365"\nvalue = "Old"\n'
        '[[test]]\nname = "array"\naccount = { tech_stack = ["HubSpot", "Salesforce"], is_customer = true }\n'
        'expect = "CRM"\n'
        '[[test]]\nname = "datetime recent"\naccount = { last_activity_at = 2026-10-15T09:30:00Z }\n'
        'today = 2026-11-01\nexpect = "Recent"\n'
        '[[test]]\nname = "datetime old at today"\naccount = { last_activity_at = 2026-10-15T09:30:00Z }\n'
        'today = 2027-01-01\nexpect = "(none)"\n'
        '[[test]]\nname = "local datetime"\naccount = { last_activity_at = 2026-10-02T00:00:00 }\n'
        'today = 2026-11-01\nexpect = "Recent"\n'
        '[[test]]\nname = "date"\naccount = { customer_since = 2025-10-31 }\ntoday = 2026-11-01\nexpect = "Old"\n'
        '[[test]]\nname = "date boundary"\naccount = { customer_since = 2025-11-01 }\ntoday = 2026-11-01\n'
        'expect = "(none)"\n'
        '[[test]]\nname = "today datetime"\naccount = { customer_since = 2025-11-01 }\n'
        'today = 2026-11-02T08:00:00Z\nexpect = "Old"\n'
    )
    rules = load(tmp_path, {"seg.toml": text})
    # `now` is far from every `today`: a test that ignored `today` would fail
    outcomes = run_tests(rules, engine, datetime(2030, 1, 1, tzinfo=UTC))
    assert [(o.case.name, o.ok, o.message) for o in outcomes if not o.ok] == []
    assert len(outcomes) == 7


def test_inline_test_without_today_uses_now(tmp_path: Path, engine: str) -> None:
    text = (
        'dimension = "seg"\n[[rule]]\nname = "recent"\nwhen = "days_since(customer_since) <= 30"\nvalue = "Recent"\n'
        '[[test]]\nname = "t"\naccount = { customer_since = 2026-10-15 }\nexpect = "Recent"\n'
    )
    rules = load(tmp_path, {"seg.toml": text})
    assert [o.ok for o in run_tests(rules, engine, NOW)] == [True]
    assert [o.ok for o in run_tests(rules, engine, NOW + timedelta(days=60))] == [False]


# ------------------------------------------------------------------ numbers at the edges
def test_numbers_beyond_int64(tmp_path: Path, engine: str) -> None:
    """Huge values compare as floats in both engines (durable saturates integer text at int64)."""
    check_table(
        tmp_path,
        engine,
        [
            ("annual_revenue > 1e19", {"annual_revenue": 2e19}, True),
            ("annual_revenue == 1e19", {"annual_revenue": 2e19}, False),
            ("employees > 1e19", {"employees": 20_000_000_000_000_000_000}, True),
            ("employees < 1e19", {"employees": 20_000_000_000_000_000_000}, False),
        ],
    )


def test_integer_literals_beyond_2_53_are_a_check_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"integer '10_000_000_000_000_000_000' is beyond 2\*\*53"):
        probe(tmp_path, "employees > 10_000_000_000_000_000_000")


@pytest.mark.skipif(not durable_available(), reason="durable-rules not importable on this Python")
@pytest.mark.parametrize(
    "when", ["annual_revenue != 5", "annual_revenue not in [5]", "annual_revenue >= 1", "not (annual_revenue >= 1)"]
)
def test_engines_agree_on_non_finite_numbers(tmp_path: Path, when: str) -> None:
    rules = probe(tmp_path, when)
    for x in (float("nan"), float("inf"), float("-inf")):
        assert evaluate("native", rules, {"annual_revenue": x}) == evaluate("durable", rules, {"annual_revenue": x}), x


def test_numbers_inside_int64_agree(tmp_path: Path, engine: str) -> None:
    check_table(
        tmp_path,
        engine,
        [
            ("annual_revenue > 1e18", {"annual_revenue": 2e18}, True),
            ("annual_revenue < 1e18", {"annual_revenue": 2e18}, False),
            ("employees == 9_007_199_254_740_991", {"employees": 9_007_199_254_740_991}, True),
            ("employees == 9_007_199_254_740_991", {"employees": 9_007_199_254_740_990}, False),
            ("annual_revenue > 0.0000001", {"annual_revenue": 2e-7}, True),
            ("annual_revenue < 0.0000001", {"annual_revenue": 2e-7}, False),
            ("annual_revenue >= 1", {"annual_revenue": float("nan")}, False),
            ("annual_revenue < 1", {"annual_revenue": float("nan")}, False),
        ],
    )
