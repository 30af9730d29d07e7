"""load_rules reports every problem with the spec's shape: file, rule, column and a suggestion.

    rules/segment.toml: rule "mid-market" (when, col 14): unknown field 'employes' — did you mean 'employees'?

Each test runs from ``tmp_path`` with a relative ``rules`` directory so the messages carry
exactly the paths an admin sees (``rules/segment.toml``).

"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crmseg.errors import ConfigError, RuleError
from crmseg.rules.loader import load_rules
from crmseg.rules.model import RuleSet

TYPES = {
    "employees": "int",
    "annual_revenue": "float",
    "industry": "str",
    "country": "str",
    "tech_stack": "list",
    "last_activity_at": "datetime",
    "customer_since": "date",
    "is_customer": "bool",
}
DASH = "\u2014"  # the em dash before "did you mean"
LINE = re.compile(r'^rules/[a-z0-9_]+\.toml: rule "[^"]+" \(when, col \d+\): .+$')


@pytest.fixture
def rules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    return Path("rules")


def write(root: Path, name: str, text: str) -> None:
    (root / name).write_text(text, encoding="utf-8")


def problems(root: Path, types: dict[str, str] = TYPES) -> list[str]:
    with pytest.raises(RuleError) as exc:
        load_rules(root, types)
    assert isinstance(exc.value, ConfigError) and exc.value.exit_code == 2
    assert str(exc.value) == "\n".join(exc.value.problems)
    return exc.value.problems


def label(when: str, name: str = "r", dim: str = "segment", extra: str = "") -> str:
    when_toml = when.replace("\\", "\\\\").replace('"', '\\"')
    return f'dimension = "{dim}"\n[[rule]]\nname = "{name}"\nwhen = "{when_toml}"\nvalue = "X"\n{extra}'


def when_problem(root: Path, when: str, name: str = "r") -> str:
    """The one problem reported for a segment rule ``name`` guarded by ``when``."""
    write(root, "segment.toml", label(when, name))
    [line] = problems(root)
    assert LINE.match(line), line
    return line


# ------------------------------------------------------------------ expression problems
def test_spec_example_line(rules_dir: Path) -> None:
    # 'employes' starts at column 14 here, reproducing the spec's example line exactly
    line = when_problem(rules_dir, "not (1000 <= employes)", name="mid-market")
    assert line == (
        'rules/segment.toml: rule "mid-market" (when, col 14): '
        f"unknown field 'employes' {DASH} did you mean 'employees'?"
    )


@pytest.mark.parametrize(
    "when, col, message",
    [
        # unknown names, with a suggestion when one is close
        ("100 <= employes < 1000", 8, f"unknown field 'employes' {DASH} did you mean 'employees'?"),
        ("lower(contry) == 'us'", 7, f"unknown field 'contry' {DASH} did you mean 'country'?"),
        ("zzz_unknown == 1", 1, "unknown field 'zzz_unknown'"),
        ("contain(industry, 'x')", 1, f"unknown function 'contain' {DASH} did you mean 'contains'?"),
        ("lowr(country) == 'us'", 1, f"unknown function 'lowr' {DASH} did you mean 'lower'?"),
        (
            "is_customer and startwith(industry, 'x')",
            17,
            f"unknown function 'startwith' {DASH} did you mean 'startswith'?",
        ),
        ("frobnicate(industry)", 1, "unknown function 'frobnicate'"),
        # type mismatches
        ("employees > 'x'", 13, "type mismatch: 'employees' is a number but 'x' is text"),
        ("industry == 5", 13, "type mismatch: 'industry' is text but 5 is a number"),
        ("5 < industry", 1, "type mismatch: 'industry' is text but 5 is a number"),
        ("employees == industry", 14, "type mismatch: 'employees' is a number but industry is text"),
        ("country in ['US', 1]", 19, "type mismatch: 'country' is text but 1 is a number"),
        ("employees == true", 14, "type mismatch: 'employees' is a number but true is true/false"),
        ("is_customer > false", 15, "true/false values only compare with == or !=, not '>'"),
        # dates and lists are not compared directly
        (
            "customer_since > 30",
            1,
            "'customer_since' is a date; compare days_since(customer_since) with a number of days",
        ),
        (
            "last_activity_at == 'x'",
            1,
            "'last_activity_at' is a date; compare days_since(last_activity_at) with a number of days",
        ),
        (
            "tech_stack == 'Salesforce'",
            1,
            "'tech_stack' is a list; use 'value' in tech_stack or contains(tech_stack, 'value')",
        ),
        (
            "'Salesforce' in industry",
            17,
            "'in' needs a list on its right, but 'industry' is text; for text use contains(industry, ...)",
        ),
        # function arguments
        ("lower(employees) == 'x'", 7, "lower() needs text field, but 'employees' is a number"),
        ("days_since(country) > 3", 12, "days_since() needs a date field, but 'country' is text"),
        ("startswith(employees, '1')", 12, "startswith() needs a text field, but 'employees' is a number"),
        ("contains(industry, 5)", 20, "contains()'s second argument must be a quoted text"),
        ("contains(industry)", 1, "contains() takes 2 arguments (field, 'text'), got 1"),
        ("is_set(industry, country)", 1, "is_set() takes 1 argument, got 2"),
        (
            "days_since(customer_since)",
            1,
            "days_since(...) gives a value, not a condition; compare it, e.g. days_since(customer_since) > 30",
        ),
        ("employees", 1, "'employees' is a number, not a condition; compare it (e.g. is_set(employees))"),
        # regular expressions are checked
        ("matches(industry, '[')", 19, "invalid regular expression: missing ]: ["),
        ("matches(industry, 'a(b')", 19, "invalid regular expression: missing ): a(b"),
        # parse errors point at the column
        ("employees >= ", 14, "expected a value, found end of expression"),
        ("employees >= 10 and", 20, "expected a value, found end of expression"),
        ("employees >= 10 && is_customer", 17, "unexpected character '&' (use 'and', 'or', 'not')"),
        ("employees >= 10 is_customer", 17, "unexpected 'is_customer' (missing 'and'/'or'?)"),
        ("(employees >= 10", 17, "expected ')' to close the '(' at col 1, found end of expression"),
        ("country in ['US', 'CA'", 23, "expected ']' to close the '[' at col 12, found end of expression"),
        ("country == 'US", 12, 'unexpected character "\'" (strings need matching quotes)'),
        ("country == 'U\\S'", 14, "unknown escape '\\S' in string"),
        ("employees >= 1__0", 14, "malformed number '1__0'"),
        ("and employees > 1", 1, "'and' needs a value on its left"),
        ("", 1, "empty expression"),
        ("country in [industry]", 13, "list items must be literal values (text, numbers, true/false)"),
        ("not " * 65 + "is_customer", 257, "expression nested deeper than 64 levels"),
    ],
)
def test_expression_problem_names_file_rule_and_column(rules_dir: Path, when: str, col: int, message: str) -> None:
    line = when_problem(rules_dir, when, name="mid-market")
    assert line == f'rules/segment.toml: rule "mid-market" (when, col {col}): {message}'


def test_column_counts_from_the_start_of_the_when_text(rules_dir: Path) -> None:
    """The column is within the expression, not the TOML line; multi-line strings count as text."""
    write(
        rules_dir,
        "segment.toml",
        'dimension = "segment"\n[[rule]]\nname = "r"\nvalue = "X"\n'
        'when = """\nemployees > 1 and\n    employes < 5"""\n',
    )
    [line] = problems(rules_dir)
    text = "employees > 1 and\n    employes < 5"
    assert line == (
        f'rules/segment.toml: rule "r" (when, col {text.index("employes <") + 1}): '
        f"unknown field 'employes' {DASH} did you mean 'employees'?"
    )


def test_null_comparison_is_a_warning_not_an_error(rules_dir: Path) -> None:
    write(rules_dir, "segment.toml", label("country == null", name="no-country"))
    rules = load_rules(rules_dir, TYPES)
    assert rules.warnings == [
        (
            "rules/segment.toml: rule \"no-country\": 'country == null' compares with null, "
            "which is always false (a missing value); use is_set()"
        )
    ]


# ------------------------------------------------------------------ dimension order
def test_cycle_between_two_dimensions_is_named(rules_dir: Path) -> None:
    write(rules_dir, "a.toml", 'dimension = "a"\n[[rule]]\nname = "r"\nwhen = "b == \'x\'"\nvalue = "y"\n')
    write(rules_dir, "b.toml", 'dimension = "b"\n[[rule]]\nname = "r"\nwhen = "a == \'y\'"\nvalue = "x"\n')
    assert problems(rules_dir) == ["rules/a.toml, rules/b.toml: dimension cycle: a -> b -> a"]


def test_cycle_of_three_and_self_reference(rules_dir: Path) -> None:
    write(rules_dir, "a.toml", 'dimension = "a"\nkind = "score"\n[[rule]]\nname = "r"\nwhen = "c > 1"\npoints = 1\n')
    write(rules_dir, "b.toml", 'dimension = "b"\nkind = "score"\n[[rule]]\nname = "r"\nwhen = "a > 1"\npoints = 1\n')
    write(rules_dir, "c.toml", 'dimension = "c"\nkind = "score"\n[[rule]]\nname = "r"\nwhen = "b > 1"\npoints = 1\n')
    write(rules_dir, "d.toml", 'dimension = "d"\n[[rule]]\nname = "r"\nwhen = "d == \'x\'"\nvalue = "x"\n')
    assert problems(rules_dir) == [
        "rules/a.toml, rules/b.toml, rules/c.toml: dimension cycle: a -> c -> b -> a",
        "rules/d.toml: dimension cycle: d -> d",
    ]


def test_score_dimension_is_a_number_and_label_dimension_is_text(rules_dir: Path) -> None:
    write(
        rules_dir,
        "icp.toml",
        'dimension = "icp_score"\nkind = "score"\n[[rule]]\nname = "r"\nwhen = "true"\npoints = 1\n',
    )
    write(rules_dir, "seg.toml", 'dimension = "segment"\n[[rule]]\nname = "r"\nwhen = "true"\nvalue = "X"\n')
    write(
        rules_dir,
        "tier.toml",
        'dimension = "tier"\n[[rule]]\nname = "r"\nwhen = "icp_score > \'high\' or segment > 3"\nvalue = "T"\n',
    )
    assert problems(rules_dir) == [
        "rules/tier.toml: rule \"r\" (when, col 13): type mismatch: 'icp_score' is a number but 'high' is text",
    ]


# ------------------------------------------------------------------ file and rule structure
VALUES = 'values = ["Enterprise", "SMB", "Unsegmented"]\n'


@pytest.mark.parametrize(
    "text, expected",
    [
        # label outside `values`
        (
            'dimension = "segment"\n'
            + VALUES
            + '[[rule]]\nname = "ent"\nwhen = "employees > 1"\nvalue = "Enterprize"\n',
            (
                'rules/segment.toml: rule "ent": '
                f"value 'Enterprize' is not in values ['Enterprise', 'SMB', 'Unsegmented'] "
                f"{DASH} did you mean 'Enterprise'?"
            ),
        ),
        # default outside `values`
        (
            'dimension = "segment"\ndefault = "Unsegmentd"\n'
            + VALUES
            + '[[rule]]\nname = "ent"\nwhen = "true"\nvalue = "SMB"\n',
            (
                f"rules/segment.toml: default 'Unsegmentd' is not in values ['Enterprise', 'SMB', 'Unsegmented'] "
                f"{DASH} did you mean 'Unsegmented'?"
            ),
        ),
        # test expectation outside `values`
        (
            'dimension = "segment"\n' + VALUES + '[[rule]]\nname = "ent"\nwhen = "true"\nvalue = "SMB"\n'
            '[[test]]\nname = "big"\naccount = { employees = 5 }\nexpect = "Enterprize"\n',
            (
                'rules/segment.toml: test "big": '
                f"expect 'Enterprize' is not in values ['Enterprise', 'SMB', 'Unsegmented'] "
                f"{DASH} did you mean 'Enterprise'?"
            ),
        ),
        # duplicate rule names
        (
            (
                'dimension = "segment"\n[[rule]]\nname = "big"\nwhen = "true"\nvalue = "A"\n'
                '[[rule]]\nname = "big"\nwhen = "false"\nvalue = "B"\n'
            ),
            'rules/segment.toml: rule "big": duplicate rule name in this file',
        ),
        # unknown keys, with suggestions, at every level
        (
            'dimension = "segment"\n[[rule]]\nname = "big"\nwhen = "true"\nvalue = "A"\nvale = "B"\n',
            f"rules/segment.toml: rule \"big\": unknown key 'vale' {DASH} did you mean 'value'?",
        ),
        (
            'dimension = "segment"\ndefualt = "A"\n[[rule]]\nname = "big"\nwhen = "true"\nvalue = "A"\n',
            f"rules/segment.toml: unknown key 'defualt' {DASH} did you mean 'default'?",
        ),
        (
            (
                'dimension = "segment"\n[[rule]]\nname = "big"\nwhen = "true"\nvalue = "A"\n'
                '[[test]]\nname = "t"\naccount = {}\nexpected = "A"\n'
            ),
            f"rules/segment.toml: test \"t\": unknown key 'expected' {DASH} did you mean 'expect'?",
        ),
        # missing `when`
        (
            'dimension = "segment"\n[[rule]]\nname = "big"\nvalue = "A"\n',
            'rules/segment.toml: rule "big": needs when = "<condition>"',
        ),
        # points in a label rule, value in a score rule
        (
            'dimension = "segment"\n[[rule]]\nname = "big"\nwhen = "true"\nvalue = "A"\npoints = 5\n',
            "rules/segment.toml: rule \"big\": 'points' belongs to score dimensions; a label rule sets 'value'",
        ),
        (
            'dimension = "segment"\nkind = "score"\n[[rule]]\nname = "big"\nwhen = "true"\npoints = 5\nvalue = "A"\n',
            "rules/segment.toml: rule \"big\": 'value' belongs to label dimensions; a score rule sets 'points'",
        ),
        (
            'dimension = "segment"\n[[rule]]\nname = "big"\nwhen = "true"\n',
            'rules/segment.toml: rule "big": a label rule needs value = "<label>"',
        ),
        (
            'dimension = "segment"\nkind = "score"\n[[rule]]\nname = "big"\nwhen = "true"\npoints = "5"\n',
            "rules/segment.toml: rule \"big\": points must be a finite number, got '5'",
        ),
        (
            (
                'dimension = "segment"\nkind = "score"\nvalues = ["A"]\n'
                '[[rule]]\nname = "big"\nwhen = "true"\npoints = 5\n'
            ),
            "rules/segment.toml: 'values' applies to label dimensions only",
        ),
        (
            (
                'dimension = "segment"\nkind = "score"\ndefault = "high"\n'
                '[[rule]]\nname = "big"\nwhen = "true"\npoints = 5\n'
            ),
            "rules/segment.toml: a score's default must be a finite number, got 'high'",
        ),
        (
            (
                'dimension = "segment"\nkind = "score"\n[[rule]]\nname = "big"\nwhen = "true"\npoints = 5\n'
                '[[test]]\nname = "t"\naccount = {}\nexpect = "lots"\n'
            ),
            "rules/segment.toml: test \"t\": a score test expects a finite number, got 'lots'",
        ),
        (
            'dimension = "segment"\nkind = "ranking"\n[[rule]]\nname = "big"\nwhen = "true"\nvalue = "A"\n',
            "rules/segment.toml: kind must be 'label' or 'score', got 'ranking'",
        ),
        (
            'dimension = "segment"\n[[rule]]\nname = "Big_One"\nwhen = "true"\nvalue = "A"\n',
            'rules/segment.toml: rule "Big_One": name must match [a-z0-9][a-z0-9-]*',
        ),
        (
            'dimension = "segment"\n[[rule]]\nname = "big"\nwhen = "true"\nvalue = "A"\nenabled = "no"\n',
            'rules/segment.toml: rule "big": enabled must be true or false',
        ),
        (
            (
                'dimension = "segment"\n[[rule]]\nname = "big"\nwhen = "true"\nvalue = "A"\n'
                '[[test]]\nname = "t"\naccount = {}\nexpect = "A"\ntoday = "2026-11-01"\n'
            ),
            'rules/segment.toml: test "t": today must be a TOML date, e.g. today = 2026-11-01',
        ),
        (
            'dimension = "Segment"\n[[rule]]\nname = "big"\nwhen = "true"\nvalue = "A"\n',
            "rules/segment.toml: 'dimension' must be a name matching [a-z][a-z0-9_]*, got 'Segment'",
        ),
        (
            'kind = "label"\n[[rule]]\nname = "big"\nwhen = "true"\nvalue = "A"\n',
            "rules/segment.toml: 'dimension' must be a name matching [a-z][a-z0-9_]*, got None",
        ),
        (
            'dimension = "industry"\n[[rule]]\nname = "big"\nwhen = "true"\nvalue = "A"\n',
            "rules/segment.toml: dimension 'industry' has the name of an account field; rename it",
        ),
        ('dimension = "segment"\n', "rules/segment.toml: no [[rule]] tables"),
    ],
    ids=[
        "label-outside-values",
        "default-outside-values",
        "expect-outside-values",
        "duplicate-rule",
        "unknown-rule-key",
        "unknown-top-key",
        "unknown-test-key",
        "missing-when",
        "points-in-label",
        "value-in-score",
        "label-without-value",
        "points-not-number",
        "values-in-score",
        "score-default-text",
        "score-expect-text",
        "bad-kind",
        "bad-rule-name",
        "enabled-not-bool",
        "today-not-date",
        "bad-dimension-name",
        "no-dimension",
        "dimension-is-field",
        "no-rules",
    ],
)
def test_structure_problem(rules_dir: Path, text: str, expected: str) -> None:
    write(rules_dir, "segment.toml", text)
    assert problems(rules_dir) == [expected]


SCORE = 'dimension = "segment"\nkind = "score"\n'


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            SCORE + '[[rule]]\nname = "big"\nwhen = "true"\npoints = nan\n',
            'rules/segment.toml: rule "big": points must be a finite number, got nan',
        ),
        (
            SCORE + '[[rule]]\nname = "big"\nwhen = "true"\npoints = -inf\n',
            'rules/segment.toml: rule "big": points must be a finite number, got -inf',
        ),
        (
            SCORE + 'default = inf\n[[rule]]\nname = "big"\nwhen = "true"\npoints = 1\n',
            "rules/segment.toml: a score's default must be a finite number, got inf",
        ),
        (
            SCORE + '[[rule]]\nname = "a"\nwhen = "true"\npoints = 1e308\n[[rule]]\nname = "b"\nwhen = "true"\n'
            'points = -1e308\n[[rule]]\nname = "c"\nwhen = "true"\npoints = 1e308\n',
            (
                "rules/segment.toml: the points of all rules together overflow (their sum is not a finite number); "
                "use smaller points"
            ),
        ),
        (
            SCORE
            + '[[rule]]\nname = "big"\nwhen = "true"\npoints = 1\n[[test]]\nname = "t"\naccount = {}\nexpect = nan\n',
            'rules/segment.toml: test "t": a score test expects a finite number, got nan',
        ),
        (SCORE + '[[rule]]\nname = "big"\nwhen = "employees > 1e999"\npoints = 1\n', None),
    ],
    ids=["points-nan", "points-inf", "default-inf", "sum-overflows", "expect-nan", "literal-inf"],
)
def test_numbers_must_be_finite(rules_dir: Path, text: str, expected: str | None) -> None:
    write(rules_dir, "segment.toml", text)
    [line] = problems(rules_dir)
    if expected is None:
        assert line == "rules/segment.toml: rule \"big\" (when, col 13): number '1e999' is too large"
    else:
        assert line == expected


def test_duplicate_dimension_across_files(rules_dir: Path) -> None:
    write(rules_dir, "segment.toml", label("true"))
    write(rules_dir, "segment_v2.toml", label("false"))
    assert problems(rules_dir) == [
        "rules/segment_v2.toml: dimension 'segment' is already defined in rules/segment.toml"
    ]


def test_broken_toml_names_file_and_line(rules_dir: Path) -> None:
    write(rules_dir, "tier.toml", 'dimension = "tier"\n[[rule]]\nname = "hot"\nwhen  "icp_score > 70"\nvalue = "Hot"\n')
    assert problems(rules_dir) == [
        "rules/tier.toml: invalid TOML: Expected '=' after a key in a key/value pair (at line 4, column 7)"
    ]


def test_file_that_is_not_utf8(rules_dir: Path) -> None:
    (rules_dir / "seg.toml").write_bytes(b'dimension = "seg"\n# caf\xe9\n')
    [line] = problems(rules_dir)
    assert line.startswith("rules/seg.toml: ")


def test_disabled_rule_problems_are_reported(rules_dir: Path) -> None:
    write(rules_dir, "segment.toml", label("employes > 1", name="off", extra="enabled = false\n"))
    assert problems(rules_dir) == [
        f"rules/segment.toml: rule \"off\" (when, col 1): unknown field 'employes' {DASH} did you mean 'employees'?"
    ]


def test_missing_or_empty_rules_directory(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"rules directory not found"):
        load_rules(tmp_path / "nope", TYPES)
    with pytest.raises(RuleError, match=r"no rule files \(\*\.toml\) found"):
        load_rules(tmp_path, TYPES)


def test_only_top_level_toml_files_are_read(rules_dir: Path) -> None:
    write(rules_dir, "segment.toml", label("true"))
    (rules_dir / "old").mkdir()
    write(rules_dir / "old", "broken.toml", "this is = = not toml")
    write(rules_dir, "notes.txt", "not a rule file")
    rules = load_rules(rules_dir, TYPES)
    assert isinstance(rules, RuleSet) and rules.names == ["segment"]


# ------------------------------------------------------------------ everything at once
def test_every_problem_in_every_file_is_reported_at_once(rules_dir: Path) -> None:
    write(
        rules_dir,
        "a_segment.toml",
        'dimension = "segment"\nvalues = ["Enterprise", "SMB"]\n'
        '[[rule]]\nname = "ent"\nwhen = "employes >= 1000"\nvalue = "Enterprise"\n'
        '[[rule]]\nname = "smb"\nwhen = "employees < 100"\nvalue = "SMBB"\n'
        '[[rule]]\nname = "mid"\nwhen = "employees >= "\nvalue = "SMB"\n',
    )
    write(rules_dir, "b_tier.toml", 'dimension = "tier"\n[[rule]]\nname = "hot"\nwhen  "x"\n')
    write(
        rules_dir,
        "c_icp.toml",
        'dimension = "icp_score"\nkind = "score"\n'
        '[[rule]]\nname = "big"\nwhen = "employees > \'many\'"\npoints = 5\n'
        '[[rule]]\nname = "big"\nwhen = "true"\npoints = 1\n'
        '[[rule]]\nname = "rx"\nwhen = "matches(industry, \'(\')"\npoints = 1\nvale = 3\n',
    )
    write(
        rules_dir,
        "d_stage.toml",
        'dimension = "stage"\n[[rule]]\nname = "ok"\nwhen = "is_customer"\nvalue = "Customer"\n',
    )
    got = problems(rules_dir)
    assert got == [
        "rules/b_tier.toml: invalid TOML: Expected '=' after a key in a key/value pair (at line 4, column 7)",
        f"rules/a_segment.toml: rule \"ent\" (when, col 1): unknown field 'employes' {DASH} did you mean 'employees'?",
        (
            'rules/a_segment.toml: rule "smb": '
            f"value 'SMBB' is not in values ['Enterprise', 'SMB'] {DASH} did you mean 'SMB'?"
        ),
        'rules/a_segment.toml: rule "mid" (when, col 14): expected a value, found end of expression',
        "rules/c_icp.toml: rule \"big\" (when, col 13): type mismatch: 'employees' is a number but 'many' is text",
        'rules/c_icp.toml: rule "big": duplicate rule name in this file',
        f"rules/c_icp.toml: rule \"rx\": unknown key 'vale' {DASH} did you mean 'value'?",
        'rules/c_icp.toml: rule "rx" (when, col 19): invalid regular expression: missing ): (',
    ]


# ------------------------------------------------------------------ known defects
def test_regex_with_huge_repeat_count_is_a_rule_error(rules_dir: Path) -> None:
    line = when_problem(rules_dir, "matches(industry, 'a{4294967296}')")  # RE2 alone would read it literally
    assert line.startswith(
        'rules/segment.toml: rule "r" (when, col 19): invalid regular expression: '
        "repeat count {4294967296} is over the limit of 1000"
    )


@pytest.mark.parametrize(
    "pattern, reason",
    [
        (r"(\\w+)\\1", "invalid escape sequence"),
        ("(?=Inc)", "invalid perl operator"),
        ("(?<!x)y", "invalid perl operator"),
    ],
)
def test_regex_re2_cannot_express_is_a_rule_error(rules_dir: Path, pattern: str, reason: str) -> None:
    line = when_problem(rules_dir, f"matches(industry, '{pattern}')")
    assert line.startswith(f'rules/segment.toml: rule "r" (when, col 19): invalid regular expression: {reason}')
    assert "RE2 syntax" in line


def test_regex_nested_deeply_is_fine_for_re2(rules_dir: Path) -> None:
    """RE2 does not recurse per group (re.compile did): 2000 nested groups check cleanly."""
    write(rules_dir, "segment.toml", label("matches(industry, '" + "(" * 2000 + "a" + ")" * 2000 + "')"))
    assert load_rules(rules_dir, TYPES).names


def test_list_nested_too_deeply_is_a_rule_error(rules_dir: Path) -> None:
    write(rules_dir, "segment.toml", label("country in " + "[" * 5000))
    [line] = problems(rules_dir)
    assert line.startswith('rules/segment.toml: rule "r" (when')


@pytest.mark.parametrize(
    "text",
    [
        'dimension = "tier\\n"\n[[rule]]\nname = "r"\nwhen = "true"\nvalue = "A"\n',
        'dimension = "tier"\n[[rule]]\nname = "r\\n"\nwhen = "true"\nvalue = "A"\n',
    ],
    ids=["dimension", "rule"],
)
def test_names_with_trailing_newline_are_rejected(rules_dir: Path, text: str) -> None:
    write(rules_dir, "tier.toml", text)
    [line] = problems(rules_dir)
    assert "must match" in line or "must be a name" in line


def test_suggestion_for_a_case_only_difference(rules_dir: Path) -> None:
    write(
        rules_dir,
        "segment.toml",
        'dimension = "segment"\nvalues = ["SMB", "Enterprise"]\n'
        '[[rule]]\nname = "smb"\nwhen = "employees < 100"\nvalue = "Smb"\n',
    )
    assert problems(rules_dir) == [
        (
            'rules/segment.toml: rule "smb": '
            f"value 'Smb' is not in values ['SMB', 'Enterprise'] {DASH} did you mean 'SMB'?"
        )
    ]
