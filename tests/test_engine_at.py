"""``Engine.at(now, given)``: the compiled rules at another clock, with dimensions an inline test
gives read from the account — what the inline tests run on instead of compiling a reduced rule
set per test. Held to the reduced rule set's results (how the tests ran before), per engine."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmseg.model import DimResult
from crmseg.rules.engines import codegen, durable_available
from crmseg.rules.engines.native import NativeEngine
from crmseg.rules.loader import load_rules
from crmseg.rules.model import Dimension, RuleSet
from crmseg.rules.testing import run_tests
from tests.rule_strategies import NOW, TYPES, accounts, rule_dirs

# values an inline test may give a dimension: labels, numbers, the wrong kind, nothing
GIVEN_VALUES = st.sampled_from(["A", "B", "T1", "Z", "", None, 0, 5, 9.5, 10, 12.0, -3, True, ("A",)])
CLOCKS = st.sampled_from([NOW, NOW + timedelta(days=31), NOW - timedelta(days=400)])


def reduced(rules: RuleSet, target: Dimension, given: set[str]) -> RuleSet:
    """``target`` and what it reads, unless given, with given dimensions typed as account fields:
    the rule set each inline test was compiled into before ``Engine.at``."""
    by_name = {d.name: d for d in rules.dimensions}
    keep: set[str] = set()

    def visit(name: str) -> None:
        if name not in keep:
            keep.add(name)
            for dep in by_name[name].depends_on - given:
                visit(dep)

    visit(target.name)
    needed = [d for d in rules.dimensions if d.name in keep]
    fields = {d.name: ("float" if d.kind == "score" else "str") for d in rules.dimensions if d.name not in keep}
    return RuleSet(needed, {**rules.field_types, **fields})


def load(tmp: Path, files: dict[str, str]) -> RuleSet:
    for name, text in files.items():
        (tmp / name).write_text(text, encoding="utf-8")
    return load_rules(tmp, TYPES)


def with_given(rules: RuleSet, account: dict[str, Any], values: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    given = {name: v for name, v in values.items() if name in rules.names}
    return {**account, **given}, set(given)


@given(
    files=rule_dirs(),
    account=accounts,
    values=st.dictionaries(st.sampled_from(["seg", "score", "tier"]), GIVEN_VALUES, max_size=2),
    at=CLOCKS,
)
def test_native_at_equals_the_reduced_rule_set_of_each_dimension(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, str], account: dict, values: dict, at: datetime
) -> None:
    rules = load(tmp_path_factory.mktemp("rules"), files)
    acc, given_names = with_given(rules, account, values)
    engine = NativeEngine(rules, NOW)
    for dim in rules.dimensions:
        names = given_names - {dim.name}  # the dimension a test checks is always computed
        got = engine.at(at, names).evaluate(acc)[dim.name]
        want = NativeEngine(reduced(rules, dim, names), at).evaluate(acc)[dim.name]
        assert got == want, (files, acc, dim.name, names)


@pytest.mark.skipif(not durable_available(), reason="durable-rules not importable on this Python")
@given(
    files=rule_dirs(),
    account=accounts,
    values=st.dictionaries(st.sampled_from(["seg", "score", "tier"]), GIVEN_VALUES, max_size=2),
    at=CLOCKS,
)
def test_durable_at_equals_native_at(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, str], account: dict, values: dict, at: datetime
) -> None:
    from crmseg.rules.engines.durable import DurableEngine

    rules = load(tmp_path_factory.mktemp("rules"), files)
    acc, given_names = with_given(rules, account, values)
    native, durable = NativeEngine(rules, NOW), DurableEngine(rules, NOW)
    try:
        for dim in rules.dimensions:
            names = given_names - {dim.name}
            got = durable.at(at, names).evaluate(acc)[dim.name]
            assert got == native.at(at, names).evaluate(acc)[dim.name], (files, acc, dim.name, names)
        assert durable.evaluate(acc) == native.evaluate(acc)  # the original is untouched by its copies
    finally:
        durable.close()


def _clocked(tmp_path: Path) -> RuleSet:
    return load(
        tmp_path,
        {
            "score.toml": 'dimension = "score"\nkind = "score"\n[[rule]]\nname = "recent"\n'
            'when = "days_since(d1) <= 30"\npoints = 10\n',
            "tier.toml": 'dimension = "tier"\n[[rule]]\nname = "top"\nwhen = "score >= 10"\nvalue = "T1"\n'
            '[[test]]\nname = "given score"\naccount = { score = 12.0 }\nexpect = "T1"\n'
            '[[test]]\nname = "recent, on its day"\ntoday = 2026-11-01\n'
            'account = { d1 = 2026-10-15 }\nexpect = "T1"\n'
            '[[test]]\nname = "old, on its day"\ntoday = 2027-11-01\n'
            'account = { d1 = 2026-10-15 }\nexpect = "(none)"\n',
        },
    )


def test_at_moves_the_clock_without_compiling_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = _clocked(tmp_path)
    generated: list[RuleSet] = []
    real = codegen.generate
    monkeypatch.setattr(codegen, "generate", lambda r: generated.append(r) or real(r))
    engine = NativeEngine(rules, NOW)
    acc = {"d1": (NOW - timedelta(days=10)).date()}
    assert engine.evaluate(acc)["tier"] == DimResult("T1", ("top",))
    later = engine.at(NOW + timedelta(days=30))
    assert later.evaluate(acc)["tier"].value is None and later.now == NOW + timedelta(days=30)
    assert engine.evaluate(acc)["tier"].value == "T1"  # the original keeps its clock
    assert engine.at(NOW, {"score"}).evaluate({**acc, "score": 3})["tier"].value is None
    assert len(generated) == 1


def test_inline_tests_run_on_the_engine_they_are_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three tests — one giving an upstream dimension, two at their own dates — on one compile."""
    rules = _clocked(tmp_path)
    generated: list[RuleSet] = []
    real = codegen.generate
    monkeypatch.setattr(codegen, "generate", lambda r: generated.append(r) or real(r))
    engine = NativeEngine(rules, NOW)
    outcomes = run_tests(rules, engine, NOW)
    assert [o.ok for o in outcomes] == [True, True, True], [o.message for o in outcomes]
    assert len(generated) == 1
    assert [o.ok for o in run_tests(rules, "native", NOW)] == [True, True, True]  # by name: compiled once more
    assert len(generated) == 2
