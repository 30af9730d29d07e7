"""The native engine: IR compiled to nested Python closures (no eval/exec)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from crmseg.model import DimResult
from crmseg.rules import ir
from crmseg.rules import semantics as sem
from crmseg.rules.model import RuleSet

Getter = Callable[[dict[str, Any]], Any]
Check = Callable[[dict[str, Any]], bool]


def compile_value(v: ir.Value, now: datetime) -> Getter:
    if isinstance(v, ir.Field):
        name = v.name

        def field(a: dict[str, Any]) -> Any:
            x = a.get(name)
            return None if x == "" else x

        return field
    inner = compile_value(v.arg, now)
    if v.func == "lower":
        return lambda a: sem.lower(inner(a))
    return lambda a: sem.days_since(inner(a), now)


_NUM_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y,
}


def compile_pred(p: ir.Pred, now: datetime) -> Check:
    """A predicate as a closure over the account dict."""
    if isinstance(p, ir.Const):
        value = p.value
        return lambda a: value
    if isinstance(p, ir.And):
        items = tuple(compile_pred(i, now) for i in p.items)
        if len(items) == 2:
            f, g = items
            return lambda a: f(a) and g(a)
        return lambda a: all(f(a) for f in items)
    if isinstance(p, ir.Or):
        items = tuple(compile_pred(i, now) for i in p.items)
        if len(items) == 2:
            f, g = items
            return lambda a: f(a) or g(a)
        return lambda a: any(f(a) for f in items)
    if isinstance(p, ir.Not):
        f = compile_pred(p.item, now)
        return lambda a: not f(a)
    if isinstance(p, ir.Cmp):
        return _compile_cmp(p, now)
    if isinstance(p, ir.Cmp2):
        left, right, op = compile_value(p.left, now), compile_value(p.right, now), p.op
        return lambda a: sem.compare(left(a), op, right(a))
    getter = compile_value(p.arg, now)
    lit = p.lit
    fn: Callable[..., bool] = {"contains": sem.contains, "startswith": sem.startswith, "endswith": sem.endswith,
                               "matches": sem.matches, "has": sem.has_item, "lacks": sem.lacks_item,
                               "is_set": sem.is_set}[p.func]
    if p.func == "matches":
        rx = sem.regex(lit)
        return lambda a: isinstance(v := getter(a), str) and v != "" and rx.search(v) is not None
    return lambda a: fn(getter(a), lit)


def _compile_cmp(p: ir.Cmp, now: datetime) -> Check:
    """Specialized by literal kind: the hot path of every audit."""
    op, lit, opf = p.op, p.right, _NUM_OPS[p.op]
    if isinstance(p.left, ir.Field):
        name = p.left.name
        if isinstance(lit, bool):
            return lambda a: (x := a.get(name)) is not None and type(x) is bool and opf(x, lit)
        if isinstance(lit, (int, float)):
            return lambda a: (x := a.get(name)) is not None and (type(x) is int or type(x) is float) and opf(x, lit)
        if isinstance(lit, str):
            return lambda a: type(x := a.get(name)) is str and x != "" and opf(x, lit)
    getter = compile_value(p.left, now)
    return lambda a: sem.compare(getter(a), op, lit)


class NativeEngine:
    """Evaluates every dimension with compiled closures; identical semantics to ``durable``."""

    name = "native"

    def __init__(self, rules: RuleSet, now: datetime) -> None:
        self.rules = rules
        self.now = now
        self._plan = [
            (d.name, d.kind, d.default, [(r.name, r.value if d.kind == "label" else r.points, compile_pred(r.pred, now)) for r in d.rules])
            for d in rules.dimensions
        ]

    def evaluate(self, account: dict[str, Any]) -> dict[str, DimResult]:
        acc = sem.clean(account)
        out: dict[str, DimResult] = {}
        for name, kind, default, rules in self._plan:
            if kind == "label":
                result = DimResult(default, ())
                for rname, value, check in rules:
                    if check(acc):
                        result = DimResult(value, (rname,))
                        break
            else:
                total = default
                fired = []
                for rname, points, check in rules:
                    if check(acc):
                        total += points
                        fired.append(rname)
                result = DimResult(total, tuple(fired))
            out[name] = result
            if result.value is None:
                acc.pop(name, None)
            else:
                acc[name] = result.value
        return out

    def close(self) -> None:
        """Nothing to release."""
