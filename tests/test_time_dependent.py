"""Which rule sets move with the calendar: decided from the checked rule IR, not the rule text."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmseg.rules.loader import load_rules
from crmseg.sync.fingerprint import time_dependent

from .rule_env import TYPES


def _rules(tmp_path: Path, kind: str, *whens: str):
    lines = [f'dimension = "d"\nkind = "{kind}"\n']
    for i, when in enumerate(whens):
        lines.append(f"[[rule]]\nname = \"r{i}\"\nwhen = '''{when}'''\n")
        lines.append('value = "A"\n' if kind == "label" else "points = 5\n")
    (tmp_path / "d.toml").write_text("".join(lines), encoding="utf-8")
    return load_rules(tmp_path, TYPES)


@pytest.mark.parametrize("kind", ["label", "score"])
@pytest.mark.parametrize(
    "when",
    [
        "days_since(last_activity_at) > 30",
        "days_since (last_activity_at) > 30",  # the parser accepts a space before '('
        "days_since\t(customer_since) <= 365",
        "30 < days_since(last_activity_at)",
        "employees > 10 and (industry == 'Retail' or not (days_since (customer_since) < 90))",
        "not not (days_since( last_activity_at ) >= 1)",
        "days_since(last_activity_at) in [1, 2, 3]",
        "days_since(customer_since) < days_since(last_activity_at)",
        "employees > 5 and employees < days_since (customer_since)",
    ],
)
def test_any_days_since_call_at_any_depth_makes_the_rules_time_dependent(tmp_path, kind, when):
    assert time_dependent(_rules(tmp_path, kind, "employees > 1000", when))


@pytest.mark.parametrize("kind", ["label", "score"])
@pytest.mark.parametrize(
    "when",
    [
        "employees > 30",
        "contains(industry, 'days_since(')",  # the words inside a text are not a call
        "lower(industry) == 'days_since (x)'",
        "is_set(last_activity_at) and not is_set(customer_since)",
    ],
)
def test_rules_without_a_days_since_call_are_not_time_dependent(tmp_path, kind, when):
    assert not time_dependent(_rules(tmp_path, kind, when))


def test_a_days_since_rule_in_a_later_dimension_counts(tmp_path):
    (tmp_path / "a.toml").write_text(
        'dimension = "a"\n[[rule]]\nname = "x"\nwhen = "employees > 1"\nvalue = "X"\n', encoding="utf-8"
    )
    (tmp_path / "b.toml").write_text(
        'dimension = "b"\nkind = "score"\n[[rule]]\nname = "y"\n'
        "when = \"a == 'X' and days_since (customer_since) > 7\"\npoints = 1\n",
        encoding="utf-8",
    )
    assert time_dependent(load_rules(tmp_path, TYPES))


def test_a_disabled_days_since_rule_does_not_count(tmp_path):
    (tmp_path / "a.toml").write_text(
        'dimension = "a"\n[[rule]]\nname = "x"\nwhen = "employees > 1"\nvalue = "X"\n'
        '[[rule]]\nname = "y"\nwhen = "days_since(customer_since) > 1"\nvalue = "Y"\nenabled = false\n',
        encoding="utf-8",
    )
    assert not time_dependent(load_rules(tmp_path, TYPES))
