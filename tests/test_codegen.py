"""The compiled native engine against the closure reference (no durable needed: runs on 3.13 too)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmseg.model import DimResult
from crmseg.rules import semantics as sem
from crmseg.rules.closures import compile_pred
from crmseg.rules.engines.codegen import generate
from crmseg.rules.engines.native import NativeEngine
from crmseg.rules.loader import load_rules
from crmseg.rules.model import RuleSet
from crmseg.rules.testing import run_tests
from tests.rule_strategies import NOW, TYPES, accounts, q, rule_dirs


def reference(rules: RuleSet, now: datetime, account: dict[str, Any]) -> dict[str, DimResult]:
    """Every dimension evaluated node by node with the closures ``explain`` uses."""
    acc = sem.clean(account)
    out: dict[str, DimResult] = {}
    for d in rules.dimensions:
        fired = [r for r in d.rules if compile_pred(r.pred, now)(acc)]
        if d.kind == "label":
            res = DimResult(fired[0].value, (fired[0].name,)) if fired else DimResult(d.default, ())
        else:
            total = d.default
            for r in fired:
                total += r.points
            res = DimResult(total, tuple(r.name for r in fired))
        out[d.name] = res
        sem.put_result(acc, d.name, res.value)
    return out


def write(d: Path, files: dict[str, str]) -> RuleSet:
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")
    return load_rules(d, TYPES)


@given(files=rule_dirs(), accts=st.lists(accounts, min_size=1, max_size=6))
def test_compiled_engine_equals_the_closures(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, str], accts: list[dict]
) -> None:
    rules = write(tmp_path_factory.mktemp("rules"), files)
    engine = NativeEngine(rules, NOW)
    for acc in accts:
        before = dict(acc)
        assert engine.evaluate(acc) == reference(rules, NOW, acc), (files, acc)
        assert acc == before  # the account is not modified


def one_rule(tmp_path: Path, when: str) -> NativeEngine:
    rules = write(
        tmp_path, {"seg.toml": f'dimension = "seg"\n[[rule]]\nname = "hit"\nwhen = {json.dumps(when)}\nvalue = "Y"\n'}
    )
    return NativeEngine(rules, NOW)


@pytest.mark.parametrize("text", ["it's", 'say "hi"', "back\\slash", "tab\there", "'); import os; ('", "{x}", "日本"])
def test_text_literals_are_data_not_code(tmp_path: Path, text: str) -> None:
    engine = one_rule(tmp_path, f"s1 == {q(text)} or contains(s2, {q(text)})")
    assert engine.evaluate({"s1": text})["seg"].value == "Y"
    assert engine.evaluate({"s2": f"<{text}>"})["seg"].value == "Y"
    assert engine.evaluate({"s1": text + "x"})["seg"].value is None
    src, _ = generate(engine.rules)
    assert "import os" not in src.replace(repr("'); import os; ('"), "")


def test_deepest_expression_the_parser_allows_compiles(tmp_path: Path) -> None:
    depth = 30  # "not (" is two levels; the parser refuses more than 64
    engine = one_rule(tmp_path, "not (" * depth + "n1 > 1" + ")" * depth)
    assert engine.evaluate({"n1": 2})["seg"].value == "Y"  # an even number of nots
    assert engine.evaluate({"n1": 0})["seg"].value is None


def test_dimension_given_by_an_inline_test_is_read_as_a_field(tmp_path: Path) -> None:
    """``rules check`` leaves out a dimension the test gives: its value comes from the account."""
    rules = write(
        tmp_path,
        {
            "score.toml": 'dimension = "score"\nkind = "score"\n[[rule]]\nname = "p"\nwhen = "n1 > 0"\npoints = 5\n',
            "tier.toml": 'dimension = "tier"\n[[rule]]\nname = "top"\nwhen = "score >= 10"\nvalue = "T1"\n'
            '[[test]]\nname = "given"\naccount = { score = 12.0 }\nexpect = "T1"\n'
            '[[test]]\nname = "computed"\naccount = { n1 = 3 }\nexpect = "(none)"\n',
        },
    )
    outcomes = run_tests(rules, "native", NOW)
    assert [o.ok for o in outcomes] == [True, True], [o.message for o in outcomes]


def test_score_totals_beyond_2_53_compare_as_floats_downstream(tmp_path: Path) -> None:
    rules = write(
        tmp_path,
        {
            "score.toml": 'dimension = "score"\nkind = "score"\n[[rule]]\nname = "p"\nwhen = "n1 > 0"\n'
            f'points = {2**53}\n[[rule]]\nname = "o"\nwhen = "n1 > 0"\npoints = 1\n',
            "tier.toml": f'dimension = "tier"\n[[rule]]\nname = "top"\nwhen = "score == {2**53}"\nvalue = "T1"\n',
        },
    )
    acc = {"n1": 1}
    got = NativeEngine(rules, NOW).evaluate(acc)
    assert got == reference(rules, NOW, acc)
    assert got["tier"].value == "T1"  # 2**53 + 1 read as the float 2**53


def test_auto_is_the_native_engine(tmp_path: Path) -> None:
    """``auto`` never costs a user durable's speed: same results, native at every size."""
    from crmseg.rules.engines import make_engine

    engine = make_engine("auto", one_rule(tmp_path, "n1 > 1").rules, NOW)
    assert engine.name == "native"
    assert engine.evaluate({"n1": 2})["seg"].value == "Y"
