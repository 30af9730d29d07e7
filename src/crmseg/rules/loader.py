"""Read a rules directory: TOML structure, expressions, types, dependency order.

All problems across all files are collected and raised together as one RuleError,
each line naming file, rule and column, with a suggestion when a name is close.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from crmseg.errors import RuleError
from crmseg.rules.files import RuleFiles
from crmseg.rules.ir import Lowering, fields_of, suggest
from crmseg.rules.model import Dimension, Rule, RuleSet, TestCase
from crmseg.rules.parser import ExprError, parse

DIM_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
TOP_KEYS = ["dimension", "kind", "description", "default", "values", "rule", "test"]
RULE_KEYS = ["name", "when", "value", "points", "description", "enabled"]
TEST_KEYS = ["name", "account", "expect", "today"]
NO_VALUE = "(none)"


class _Problems(list[str]):
    def add(self, where: str, msg: str) -> None:
        self.append(f"{where}: {msg}")


def load_rules(rules_dir: str | Path | RuleFiles, field_types: Mapping[str, str]) -> RuleSet:
    """Load and check every ``*.toml`` in ``rules_dir`` (not recursive; or the files already read).

    ``field_types`` maps every known account field to its type. Raises RuleError
    listing every problem found; returns the RuleSet in evaluation order.
    """
    files = RuleFiles.of(rules_dir)
    if not files.found:
        raise RuleError(f"{files.root}: rules directory not found")
    if not files.files:
        raise RuleError(f"{files.root}: no rule files (*.toml) found")
    problems = _Problems()
    raw: list[tuple[Path, dict[str, Any]]] = []
    for path, doc in files.documents:
        if isinstance(doc, tomllib.TOMLDecodeError):
            problems.add(str(path), f"invalid TOML: {doc}")
        elif isinstance(doc, UnicodeDecodeError):
            problems.add(str(path), f"not UTF-8 text: {doc}")
        elif isinstance(doc, dict):
            raw.append((path, doc))
    dims_by_name: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path, data in raw:
        name = data.get("dimension")
        if not isinstance(name, str) or not DIM_NAME.fullmatch(name):
            problems.add(str(path), f"'dimension' must be a name matching [a-z][a-z0-9_]*, got {name!r}")
            continue
        if name in dims_by_name:
            problems.add(str(path), f"dimension '{name}' is already defined in {dims_by_name[name][0]}")
            continue
        if name in field_types:
            problems.add(str(path), f"dimension '{name}' has the name of an account field; rename it")
            continue
        dims_by_name[name] = (path, data)
    types = dict(field_types)
    for name, (_, data) in dims_by_name.items():
        types[name] = "float" if data.get("kind") == "score" else "str"
    warnings: list[str] = []
    dims = [
        d
        for d in (
            _dimension(p, data, types, set(dims_by_name), problems, warnings) for p, data in dims_by_name.values()
        )
        if d
    ]
    ordered = _order(dims, problems)
    if problems:
        raise RuleError(list(problems))
    return RuleSet(ordered, dict(field_types), warnings, source=files)


def _dimension(
    path: Path,
    data: dict[str, Any],
    types: dict[str, str],
    dim_names: set[str],
    problems: _Problems,
    warnings: list[str],
) -> Dimension | None:
    where = str(path)
    before = len(problems)
    for key in data:
        if key not in TOP_KEYS:
            problems.add(where, f"unknown key '{key}'{suggest(key, TOP_KEYS)}")
    kind = data.get("kind", "label")
    if kind not in ("label", "score"):
        problems.add(where, f"kind must be 'label' or 'score', got {kind!r}")
        return None
    values = data.get("values")
    if values is not None and (not isinstance(values, list) or not all(isinstance(v, str) for v in values)):
        problems.add(where, "'values' must be a list of texts")
        values = None
    if values is not None and kind == "score":
        problems.add(where, "'values' applies to label dimensions only")
    default = data.get("default")
    if kind == "label" and default is not None:
        if not isinstance(default, str):
            problems.add(where, f"default must be a text label, got {default!r}")
        elif values is not None and default not in values:
            problems.add(where, f"default '{default}' is not in values {values}{suggest(default, values)}")
    if kind == "score" and default is not None and not _finite(default):
        problems.add(where, f"a score's default must be a finite number, got {default!r}")
    dim = Dimension(
        name=data["dimension"],
        kind=kind,
        path=where,
        rules=[],
        default=default if kind == "label" else (default or 0),
        values=values,
        description=str(data.get("description", "")),
    )
    rules = data.get("rule", [])
    if not isinstance(rules, list) or not rules:
        problems.add(where, "no [[rule]] tables")
        rules = []
    seen: set[str] = set()
    for i, r in enumerate(rules, 1):
        rule = _rule(where, i, r, dim, types, seen, problems, warnings)
        if rule is None:
            continue
        if r.get("enabled", True):
            dim.rules.append(rule)
        else:
            dim.disabled.append(rule.name)
        refs = fields_of(rule.pred)
        dim.depends_on |= refs & dim_names
        dim.fields |= refs - dim_names
    if kind == "score" and len(problems) == before:
        total = sum(abs(float(x)) for x in [dim.default or 0, *(r.points for r in dim.rules)])
        if not math.isfinite(total):
            problems.add(
                where,
                "the points of all rules together overflow (their sum is not a finite number); use smaller points",
            )
    for i, t in enumerate(data.get("test", []) if isinstance(data.get("test", []), list) else [], 1):
        case = _test(where, i, t, dim, problems)
        if case:
            dim.tests.append(case)
    return dim if len(problems) == before else None


def _rule(
    where: str,
    i: int,
    r: Any,
    dim: Dimension,
    types: dict[str, str],
    seen: set[str],
    problems: _Problems,
    warnings: list[str],
) -> Rule | None:
    if not isinstance(r, dict):
        problems.add(where, f"rule #{i} must be a table")
        return None
    name = r.get("name")
    label = f'rule "{name}"' if isinstance(name, str) else f"rule #{i}"
    if not isinstance(name, str) or not RULE_NAME.fullmatch(name):
        problems.add(f"{where}: {label}", "name must match [a-z0-9][a-z0-9-]*")
        return None
    if name in seen:
        problems.add(f"{where}: {label}", "duplicate rule name in this file")
        return None
    seen.add(name)
    bad = False
    for key in r:
        if key not in RULE_KEYS:
            problems.add(f"{where}: {label}", f"unknown key '{key}'{suggest(key, RULE_KEYS)}")
            bad = True
    if "enabled" in r and not isinstance(r["enabled"], bool):
        problems.add(f"{where}: {label}", "enabled must be true or false")
        bad = True
    value, points = r.get("value"), r.get("points", 0)
    if dim.kind == "label":
        if "points" in r:
            problems.add(f"{where}: {label}", "'points' belongs to score dimensions; a label rule sets 'value'")
            bad = True
        if not isinstance(value, str) or not value:
            problems.add(f"{where}: {label}", 'a label rule needs value = "<label>"')
            bad = True
        elif dim.values is not None and value not in dim.values:
            problems.add(
                f"{where}: {label}", f"value '{value}' is not in values {dim.values}{suggest(value, dim.values)}"
            )
            bad = True
    else:
        if "value" in r:
            problems.add(f"{where}: {label}", "'value' belongs to label dimensions; a score rule sets 'points'")
            bad = True
        if not _finite(points):
            problems.add(f"{where}: {label}", f"points must be a finite number, got {points!r}")
            bad = True
    when = r.get("when")
    if not isinstance(when, str):
        problems.add(f"{where}: {label}", 'needs when = "<condition>"')
        return None
    lint: list[str] = []
    try:
        pred = Lowering(types, lint).predicate(parse(when))
    except ExprError as exc:
        problems.add(f"{where}: {label} (when, col {exc.col})", exc.message)
        return None
    except RecursionError:
        problems.add(f"{where}: {label} (when)", "expression too deeply nested")
        return None
    warnings.extend(f"{where}: {label}: {w}" for w in lint)
    if bad:
        return None
    return Rule(
        name,
        when,
        pred,
        value if dim.kind == "label" else None,
        points if dim.kind == "score" else 0,
        str(r.get("description", "")),
    )


def _test(where: str, i: int, t: Any, dim: Dimension, problems: _Problems) -> TestCase | None:
    if not isinstance(t, dict):
        problems.add(where, f"test #{i} must be a table")
        return None
    name = str(t.get("name", f"#{i}"))
    label = f'test "{name}"'
    for key in t:
        if key not in TEST_KEYS:
            problems.add(f"{where}: {label}", f"unknown key '{key}'{suggest(key, TEST_KEYS)}")
    account = t.get("account", {})
    if not isinstance(account, dict):
        problems.add(f"{where}: {label}", "account must be an inline table of field = value")
        return None
    expect = t.get("expect")
    if expect == NO_VALUE:
        expect = None
    if dim.kind == "label" and expect is not None:
        if not isinstance(expect, str):
            problems.add(f"{where}: {label}", f'expect must be a label or "(none)", got {expect!r}')
        elif dim.values is not None and expect not in dim.values:
            problems.add(
                f"{where}: {label}", f"expect '{expect}' is not in values {dim.values}{suggest(expect, dim.values)}"
            )
    if dim.kind == "score" and not _finite(expect):
        problems.add(f"{where}: {label}", f"a score test expects a finite number, got {expect!r}")
    today = t.get("today")
    if today is not None and not isinstance(today, (date, datetime)):
        problems.add(f"{where}: {label}", "today must be a TOML date, e.g. today = 2026-11-01")
    return TestCase(name, {k: _test_value(v) for k, v in account.items()}, expect, today)


def _finite(v: Any) -> bool:
    """A number (not a bool) that is neither nan nor infinite."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _test_value(v: Any) -> Any:
    """TOML values as accounts carry them: arrays become tuples, naive datetimes UTC."""
    if isinstance(v, list):
        return tuple(v)
    if isinstance(v, datetime) and v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    return v


def _order(dims: list[Dimension], problems: _Problems) -> list[Dimension]:
    """Topological order by ``depends_on``; a cycle is reported with its path."""
    by_name = {d.name: d for d in dims}
    order: list[Dimension] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(d: Dimension, stack: list[str]) -> None:
        if state.get(d.name) == 2:
            return
        if state.get(d.name) == 1:
            cycle = [*stack[stack.index(d.name) :], d.name]
            files = ", ".join(sorted({by_name[n].path for n in cycle}))
            problems.append(f"{files}: dimension cycle: {' -> '.join(cycle)}")
            return
        state[d.name] = 1
        for dep in sorted(d.depends_on):
            if dep in by_name:
                visit(by_name[dep], [*stack, d.name])
        state[d.name] = 2
        order.append(d)

    for d in dims:
        visit(d, [])
    return order
