"""IR predicates and values as nested Python closures over a cleaned account dict.

The reference meaning of every IR node, one node at a time: ``explain`` traces with it,
the durable engine computes its projected slots with it, and the compiled native engine
(``engines/codegen.py``) is tested against it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from crmseg.rules import ir
from crmseg.rules import semantics as sem

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
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}


def compile_pred(p: ir.Pred, now: datetime) -> Check:
    """A predicate as a closure over the account dict."""
    if isinstance(p, ir.Const):
        value = p.value
        return lambda a: value
    if isinstance(p, ir.And):
        ranged = _range(p)
        if ranged is not None:
            return ranged
        items = tuple(compile_pred(i, now) for i in p.items)
        if len(items) == 2:
            f, g = items
            return lambda a: f(a) and g(a)
        return lambda a: all(f(a) for f in items)
    if isinstance(p, ir.Or):
        member = _membership(p)
        if member is not None:
            return member
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
    by_func: dict[str, Callable[..., bool]] = {
        "contains": sem.contains,
        "startswith": sem.startswith,
        "endswith": sem.endswith,
        "matches": sem.matches,
        "has": sem.has_item,
        "lacks": sem.lacks_item,
        "is_set": sem.is_set,
    }
    fn = by_func[p.func]
    if p.func == "matches":
        rx = sem.regex(lit)
        return lambda a: isinstance(v := getter(a), str) and v != "" and rx.search(v) is not None
    return lambda a: fn(getter(a), lit)


def _same_field_cmps(items: tuple[ir.Pred, ...]) -> tuple[str, list[ir.Cmp]] | None:
    """The field name when every item is a literal comparison on that one field."""
    if len(items) < 2 or not all(isinstance(i, ir.Cmp) and isinstance(i.left, ir.Field) for i in items):
        return None
    cmps = [i for i in items if isinstance(i, ir.Cmp)]
    names = {c.left.name for c in cmps if isinstance(c.left, ir.Field)}
    return (names.pop(), cmps) if len(names) == 1 else None


def _num_lit(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _membership(p: ir.Or) -> Check | None:
    """``f in [a, b, c]`` (an ``or`` of ``==`` on one field, one literal kind) as a set lookup."""
    found = _same_field_cmps(p.items)
    if found is None or any(c.op != "==" for c in found[1]):
        return None
    name, cmps = found
    lits = [c.right for c in cmps]
    if all(isinstance(v, str) for v in lits):
        strs = frozenset(lits)
        return lambda a: type(x := a.get(name)) is str and x in strs
    if all(_num_lit(v) for v in lits):
        nums = frozenset(lits)
        return lambda a: ((t := type(x := a.get(name))) is int or t is float) and x in nums
    return None


def _range(p: ir.And) -> Check | None:
    """``lo <= f < hi`` (an ``and`` of numeric comparisons on one field): one lookup, one kind check."""
    found = _same_field_cmps(p.items)
    if found is None or not all(_num_lit(c.right) for c in found[1]):
        return None
    name, cmps = found
    tests = tuple((_NUM_OPS[c.op], c.right) for c in cmps)
    if len(tests) == 2:
        (f1, v1), (f2, v2) = tests
        return lambda a: ((t := type(x := a.get(name))) is int or t is float) and f1(x, v1) and f2(x, v2)
    return lambda a: ((t := type(x := a.get(name))) is int or t is float) and all(f(x, v) for f, v in tests)


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
    if _num_lit(lit):  # days_since(f) <op> n
        return lambda a: ((t := type(x := getter(a))) is int or t is float) and opf(x, lit)
    if isinstance(lit, str):  # lower(f) <op> 'x'
        return lambda a: type(x := getter(a)) is str and x != "" and opf(x, lit)
    return lambda a: sem.compare(getter(a), op, lit)
