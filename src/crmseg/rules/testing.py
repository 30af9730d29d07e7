"""Run the inline ``[[test]]`` cases of a rule set (``crmseg rules check``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from crmseg.rules.engines import Engine, make_engine
from crmseg.rules.model import Dimension, RuleSet, TestCase
from crmseg.tags import tag_text


@dataclass(frozen=True, slots=True)
class TestOutcome:
    dimension: Dimension
    case: TestCase
    ok: bool
    message: str


def _at(today: date | datetime | None, default: datetime) -> datetime:
    if today is None:
        return default
    if isinstance(today, datetime):
        return today if today.tzinfo else today.replace(tzinfo=UTC)
    return datetime.combine(today, time(0), tzinfo=UTC)


def run_tests(rules: RuleSet, engine: str | Engine, now: datetime) -> list[TestOutcome]:
    """Evaluate every inline test; a test may fix upstream dimension values and its date.

    ``engine``: the rules already compiled (a run's engine: nothing is compiled again), or the
    name of the engine to compile them with, once."""
    cases = [(dim, case) for dim in rules.dimensions for case in dim.tests]
    if not cases:
        return []
    compiled = make_engine(engine, rules, now) if isinstance(engine, str) else engine
    views: dict[tuple[datetime, frozenset[str]], Engine] = {}  # tests with the same date and givens share one
    try:
        return [_run_case(rules, dim, case, compiled, now, views) for dim, case in cases]
    finally:
        if compiled is not engine:
            compiled.close()


def _run_case(
    rules: RuleSet,
    dim: Dimension,
    case: TestCase,
    engine: Engine,
    now: datetime,
    views: dict[tuple[datetime, frozenset[str]], Engine],
) -> TestOutcome:
    # the dimensions the test gives are read from its account; the one it tests is always computed
    given = frozenset(name for name in case.account if name != dim.name and name in rules.names)
    key = (_at(case.today, now), given)
    view = views.get(key)
    if view is None:
        view = views[key] = engine.at(*key)
    result = view.evaluate(case.account)[dim.name]
    ok = tag_text(result.value) == tag_text(case.expect)
    fired = ", ".join(f'"{r}"' for r in result.rules) or "no rule"
    got = "(none)" if result.value is None else repr(result.value)
    want = "(none)" if case.expect is None else repr(case.expect)
    msg = "" if ok else f'{dim.path}: test "{case.name}": expected {want}, got {got} ({fired} fired)'
    return TestOutcome(dim, case, ok, msg)
