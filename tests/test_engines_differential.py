"""Both engines must give identical tags and fired-rule names (property-based: 1,000 cases in CI, see
tests/scale.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmseg.rules.engines import durable_available
from crmseg.rules.engines.native import NativeEngine
from crmseg.rules.loader import load_rules
from tests.rule_strategies import NOW, TYPES, accounts, rule_dirs

pytestmark = pytest.mark.skipif(not durable_available(), reason="durable-rules not importable on this Python")


@given(files=rule_dirs(), accts=st.lists(accounts, min_size=1, max_size=6))
def test_native_and_durable_agree(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, str], accts: list[dict]
) -> None:
    from crmseg.rules.engines.durable import DurableEngine

    d = tmp_path_factory.mktemp("rules")
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")
    rules = load_rules(d, TYPES)
    native, durable = NativeEngine(rules, NOW), DurableEngine(rules, NOW)
    try:
        for acc in accts:
            assert durable.evaluate(acc) == native.evaluate(acc), (files, acc)
    finally:
        durable.close()


def test_engines_are_isolated_and_reloadable(tmp_path) -> None:
    """Two engines with different rules for the same dimension coexist; closing one leaves the other."""
    from crmseg.rules.engines.durable import DurableEngine

    def write(threshold: int) -> RuleSet:  # noqa: F821
        d = tmp_path / f"r{threshold}"
        d.mkdir()
        (d / "seg.toml").write_text(
            f'dimension = "seg"\n[[rule]]\nname = "big"\nwhen = "n1 >= {threshold}"\nvalue = "Big"\n', encoding="utf-8"
        )
        return load_rules(d, TYPES)

    a, b = DurableEngine(write(10), NOW), DurableEngine(write(100), NOW)
    acc = {"n1": 50}
    assert a.evaluate(acc)["seg"].value == "Big"
    assert b.evaluate(acc)["seg"].value is None
    a.close()
    assert b.evaluate(acc)["seg"].value is None
    c = DurableEngine(write(10) if False else a.rules, NOW)  # reload the same rules after close
    assert c.evaluate(acc)["seg"].value == "Big"
    b.close()
    c.close()
