"""Run the inline ``[[test]]`` cases of a rule set (``crmseg rules check``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from crmseg.diff import tag_text
from crmseg.rules.engines import make_engine
from crmseg.rules.model import Dimension, RuleSet, TestCase


@dataclass(frozen=True, slots=True)
class TestOutcome:
    dimension: Dimension
    case: TestCase
    ok: bool
    message: str


def _needed(rules: RuleSet, target: Dimension, given: set[str]) -> list[Dimension]:
    """``target`` and the dimensions it reads (transitively), unless the test gives their value."""
    by_name = {d.name: d for d in rules.dimensions}
    keep: set[str] = set()

    def visit(name: str) -> None:
        if name in keep:
            return
        keep.add(name)
        for dep in by_name[name].depends_on:
            if dep not in given:
                visit(dep)

    visit(target.name)
    return [d for d in rules.dimensions if d.name in keep]


def _at(today: date | datetime | None, default: datetime) -> datetime:
    if today is None:
        return default
    if isinstance(today, datetime):
        return today if today.tzinfo else today.replace(tzinfo=UTC)
    return datetime.combine(today, time(0), tzinfo=UTC)


def run_tests(rules: RuleSet, engine: str, now: datetime) -> list[TestOutcome]:
    """Evaluate every inline test with ``engine``; a test may fix upstream dimension values."""
    outcomes: list[TestOutcome] = []
    engines: dict[tuple[tuple[str, ...], datetime], Any] = {}  # tests with the same needs share one engine
    try:
        for dim in rules.dimensions:
            for case in dim.tests:
                outcomes.append(_run_case(rules, dim, case, engine, now, engines))
    finally:
        for eng in engines.values():
            eng.close()
    return outcomes


def _run_case(
    rules: RuleSet,
    dim: Dimension,
    case: TestCase,
    engine: str,
    now: datetime,
    engines: dict[tuple[tuple[str, ...], datetime], Any],
) -> TestOutcome:
    needed = _needed(rules, dim, set(case.account))
    at = _at(case.today, now)
    key = (tuple(d.name for d in needed), at)
    eng = engines.get(key)
    if eng is None:
        given = {d.name: ("float" if d.kind == "score" else "str") for d in rules.dimensions if d not in needed}
        sub = RuleSet(needed, {**rules.field_types, **given})  # a given dimension is read as a field
        eng = engines[key] = make_engine(engine, sub, at)
    result = eng.evaluate(case.account)[dim.name]
    ok = tag_text(result.value) == tag_text(case.expect)
    fired = ", ".join(f'"{r}"' for r in result.rules) or "no rule"
    got = "(none)" if result.value is None else repr(result.value)
    want = "(none)" if case.expect is None else repr(case.expect)
    msg = "" if ok else f'{dim.path}: test "{case.name}": expected {want}, got {got} ({fired} fired)'
    return TestOutcome(dim, case, ok, msg)
