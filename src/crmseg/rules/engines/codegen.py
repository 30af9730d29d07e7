"""IR -> Python source of one RuleSet's ``evaluate(account)``, then ``compile()``d.

Built the way ``dataclasses`` builds methods, and only from the type-checked IR:
- every literal is embedded with ``repr`` after its type is checked (str, int, bool,
  finite float; other floats as ``float('inf')``-style calls);
- field, dimension and rule names appear only as ``repr``'d strings, never as code;
- every identifier is generated here (``v0``, ``r1``, ...) and checked before use;
- objects that are not literals (result objects, compiled regexes) are passed in as
  arguments of a factory function, so the function reads them as fast closure cells.

Meaning is ``semantics.py``'s, specialized per declared type: each field is read once
into a local holding its *view* — the value when it has the kind its type declares,
cleaned as ``semantics.clean`` does, else None — so a comparison is ``v0 is not None
and v0 >= 5`` and a membership a set lookup.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from crmseg.model import DimResult
from crmseg.rules import ir
from crmseg.rules import semantics as sem
from crmseg.rules.model import RuleSet

E = sem.INT_EXACT
_VIEW = {"int": "num", "float": "num", "str": "str", "bool": "bool", "list": "seq", "date": "date", "datetime": "date"}
_FN_VIEW = {"lower": "str", "days_since": "num"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ------------------------------------------------------------------ runtime helpers (slow paths)
def num_view(v: Any) -> Any:
    """A number as engines compare it (huge ints as floats), None for missing/non-finite/other kinds."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if type(v) is float and not math.isfinite(v):
        return None
    if type(v) is int and not -E <= v <= E:
        return float(v)
    return v


def str_view(v: Any) -> Any:
    return v if isinstance(v, str) and v != "" else None


def seq_view(v: Any) -> Any:
    return v if isinstance(v, (list, tuple)) and len(v) > 0 else None


def date_view(v: Any) -> Any:
    return v if isinstance(v, date) else None


def bool_view(v: Any) -> Any:
    return v if isinstance(v, bool) else None


def raw_view(v: Any) -> Any:
    """One value as ``semantics.clean`` leaves it, None when it drops it."""
    return sem.clean({"v": v}).get("v")


HELPERS: dict[str, Callable[..., Any]] = {
    "_num": num_view,
    "_str": str_view,
    "_seq": seq_view,
    "_date": date_view,
    "_bool": bool_view,
    "_raw": raw_view,
    "_days": sem.days_since,
    "_cmp": sem.compare,
}
# one fast check per view for the type the value usually has; the helper otherwise
_FAST = {
    "num": "{x}.__class__ is not int or not -{E} <= {x} <= {E}",
    "num_float": "{x}.__class__ is not float or not -_INF < {x} < _INF",
    "str": "{x}.__class__ is not str or {x} == ''",
    "bool": "{x}.__class__ is not bool",
    "seq": "({x}.__class__ is not tuple and {x}.__class__ is not list) or not {x}",
    "date": "{x}.__class__ is not _datetime_t and {x}.__class__ is not _date_t",
}


def lit(v: Any) -> str:
    """A literal as Python source; only the kinds the checker allows."""
    if v is None or isinstance(v, (bool, int, str)):
        return repr(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else f"float({str(v)!r})"
    raise TypeError(f"not a rule literal: {type(v).__name__}")


def ident(name: str) -> str:
    """A generated identifier, checked."""
    if not _IDENT.fullmatch(name) or keyword.iskeyword(name):
        raise ValueError(f"bad generated identifier {name!r}")
    return name


@dataclass
class _Gen:
    """Source lines and the names it has bound."""

    types: dict[str, str]
    consts: dict[str, Any] = field(default_factory=dict)
    locals_: dict[ir.Value, tuple[str, str]] = field(default_factory=dict)  # value -> (local, view)
    sources: dict[str, str] = field(default_factory=dict)  # dimension -> the expression of its value
    hints: dict[str, str] = field(default_factory=dict)  # score -> "int" when every total is an int
    lines: list[str] = field(default_factory=list)
    count: int = 0

    def const(self, prefix: str, obj: Any) -> str:
        name = ident(f"_{prefix}{len(self.consts)}")
        self.consts[name] = obj
        return name

    def fresh(self) -> str:
        self.count += 1
        return ident(f"v{self.count}")

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    # -- values
    def load(self, name: str, source: str, indent: int) -> None:
        """Bind the view of field ``name`` (declared type) read from ``source`` (an expression)."""
        declared = self.hints.get(name) or self.types.get(name)
        view = _VIEW.get(declared or "")
        if view is None:
            raise ValueError(f"field {name!r} has no known type ({declared!r})")
        x = self.fresh()
        self.locals_[ir.Field(name)] = (x, view)
        fast = _FAST["num_float" if declared == "float" else view].format(x=x, E=E)
        self.emit(indent, f"{x} = {source}")
        self.emit(indent, f"if {x} is not None and ({fast}):")  # missing stays None
        self.emit(indent + 1, f"{x} = _{view}({x})")

    def value(self, v: ir.Value, indent: int) -> tuple[str, str]:
        """The local holding ``v``'s view (functions computed once, when first needed)."""
        if v in self.locals_:
            return self.locals_[v]
        if isinstance(v, ir.Field):  # read lazily: a field first used here
            self.load(v.name, self.sources.get(v.name) or f"get({v.name!r})", indent)
            return self.locals_[v]
        arg, _ = self.value(v.arg, indent)
        x = self.fresh()
        if v.func == "lower":
            self.emit(indent, f"{x} = None if {arg} is None else {arg}.lower()")
        else:
            self.emit(
                indent,
                f"{x} = None if {arg} is None else ((_now - {arg}).days if "
                f"{arg}.__class__ is _datetime_t and {arg}.tzinfo is not None else _days({arg}, _now))",
            )
        self.locals_[v] = (x, _FN_VIEW[v.func])
        return self.locals_[v]

    def raw(self, v: ir.Value, indent: int) -> str:
        """A local holding ``v`` cleaned but of whatever kind it is (value-to-value comparisons)."""
        if isinstance(v, ir.Fn):
            return self.value(v, indent)[0]  # a function's result has one kind already
        key = ir.Fn("raw", v)
        if key not in self.locals_:
            x = self.fresh()
            self.emit(indent, f"{x} = _raw({self.sources.get(v.name) or f'get({v.name!r})'})")
            self.locals_[key] = (x, "raw")
        return self.locals_[key][0]

    def prepare(self, p: ir.Pred, indent: int) -> None:
        """Bind every value ``p`` reads (before the ``if`` that tests it)."""
        for v, raw in _values(p):
            if raw:
                self.raw(v, indent)
            else:
                self.value(v, indent)

    # -- predicates
    def pred(self, p: ir.Pred) -> str:
        if isinstance(p, ir.Const):
            return "True" if p.value else "False"
        if isinstance(p, ir.Not):
            return f"(not {self.pred(p.item)})"
        if isinstance(p, (ir.And, ir.Or)):
            fast = self._set_test(p) or (self._range(p) if isinstance(p, ir.And) else self._any_item(p))
            if fast:
                return fast
            joiner = " and " if isinstance(p, ir.And) else " or "
            return "(" + joiner.join(self.pred(i) for i in p.items) + ")"
        if isinstance(p, ir.Cmp):
            return self._cmp(p)
        if isinstance(p, ir.Cmp2):  # the values' own kinds decide (two text fields may hold numbers)
            a, b = (self.locals_[ir.Fn("raw", v) if isinstance(v, ir.Field) else v][0] for v in (p.left, p.right))
            return f"_cmp({a}, {p.op!r}, {b})"
        return self._test(p)

    def _cmp(self, p: ir.Cmp) -> str:
        x, view = self.locals_[p.left]
        kind = sem.kind(p.right)
        if (view, kind) not in (("num", sem.NUM), ("str", sem.STR), ("bool", sem.BOOL)):
            return "False"  # another kind, or a date/list: never equal (the checker rejects these)
        if view == "bool":
            if p.op not in ("==", "!="):
                return "False"
            want = p.right if p.op == "==" else not p.right
            return f"({x} is {lit(want)})"
        if p.op == "==":
            return f"({x} == {lit(p.right)})"  # None == literal is False
        return f"({x} is not None and {x} {p.op} {lit(p.right)})"

    def _set_test(self, p: ir.And | ir.Or) -> str | None:
        """``v in [a, b, ...]`` (an ``or`` of ``==``) or ``not in`` (an ``and`` of ``!=``) as one set lookup."""
        op = "==" if isinstance(p, ir.Or) else "!="
        if len(p.items) < 2 or not all(isinstance(i, ir.Cmp) and i.op == op for i in p.items):
            return None
        cmps = [i for i in p.items if isinstance(i, ir.Cmp)]
        if len({c.left for c in cmps}) != 1:
            return None
        x, view = self.locals_[cmps[0].left]
        kinds = {sem.kind(c.right) for c in cmps}
        if (view, kinds) not in (("num", {sem.NUM}), ("str", {sem.STR})) or not all(
            isinstance(c.right, str) or math.isfinite(c.right) for c in cmps
        ):
            return None
        members = "{" + ", ".join(lit(c.right) for c in cmps) + "}"
        if op == "==":
            return f"({x} in {members})"  # None is in no set of texts or numbers
        return f"({x} is not None and {x} not in {members})"

    def _any_item(self, p: ir.Or) -> str | None:
        """``'a' in l or 'b' in l``: one missing check, then the item tests."""
        tests = [i for i in p.items if isinstance(i, ir.Test) and i.func == "has" and i.lit is not None]
        if len(tests) != len(p.items) or len(tests) < 2 or len({t.arg for t in tests}) != 1:
            return None
        x, view = self.locals_[tests[0].arg]
        if view != "seq":
            return None
        return f"({x} is not None and (" + " or ".join(f"{lit(t.lit)} in {x}" for t in tests) + "))"

    def _range(self, p: ir.And) -> str | None:
        """``lo <= v < hi``: numeric comparisons of one value as one chained comparison."""
        cmps = [i for i in p.items if isinstance(i, ir.Cmp)]
        if len(cmps) != len(p.items) or len(cmps) < 2 or len({c.left for c in cmps}) != 1:
            return None
        x, view = self.locals_[cmps[0].left]
        if view != "num" or any(sem.kind(c.right) != sem.NUM for c in cmps):
            return None
        parts = [f"{x} {c.op} {lit(c.right)}" for c in cmps]
        if len(cmps) == 2:
            first, second = cmps
            parts = [f"{lit(first.right)} {_FLIP[first.op]} {x} {second.op} {lit(second.right)}"]
        return f"({x} is not None and {' and '.join(parts)})"

    def _test(self, p: ir.Test) -> str:
        x, view = self.locals_[p.arg]
        f, lit_ = p.func, p.lit
        if f == "is_set":
            declared = _VIEW.get(lit_) if isinstance(lit_, str) else None
            if declared == view:
                return f"({x} is not None)"
            return "False"  # declared kind differs from the value's: never set (cannot happen after checking)
        if f in ("has", "lacks"):
            if view != "seq" or lit_ is None:
                return "False"
            return f"({x} is not None and {lit(lit_)} {'in' if f == 'has' else 'not in'} {x})"
        if view != "str" or not isinstance(lit_, str):
            return "False"
        if f == "contains":
            return f"({x} is not None and {lit(lit_)} in {x})"
        if f in ("startswith", "endswith"):
            return f"({x} is not None and {x}.{f}({lit(lit_)}))"
        rx = self.const("rx", sem.regex(lit_))
        return f"({x} is not None and {rx}.search({x}) is not None)"


_FLIP = sem.FLIP


def _values(p: ir.Pred) -> list[tuple[ir.Value, bool]]:
    """Every value node ``p`` reads, inner before outer, in order; True: needed raw."""
    out: list[tuple[ir.Value, bool]] = []

    def val(v: ir.Value, raw: bool = False) -> None:
        if isinstance(v, ir.Fn):
            val(v.arg)
        out.append((v, raw))

    def walk(q: ir.Pred) -> None:
        if isinstance(q, (ir.And, ir.Or)):
            for i in q.items:
                walk(i)
        elif isinstance(q, ir.Not):
            walk(q.item)
        elif isinstance(q, ir.Cmp):
            val(q.left)
        elif isinstance(q, ir.Cmp2):
            val(q.left, True)
            val(q.right, True)
        elif isinstance(q, ir.Test):
            val(q.arg)

    walk(p)
    return out


def generate(rules: RuleSet) -> tuple[str, dict[str, Any]]:
    """The source of ``_make(...)`` returning ``evaluate(account)``, and the objects it takes.

    ``_make`` takes the clock (``_now``) and the dimensions an inline test gives (``_given``):
    a dimension other rules read is computed, then replaced by the account's value when given.
    One flag test per such dimension is all a run pays for it, and a test at another date or
    with other given values needs another ``_make(...)`` call, not another ``compile()``."""
    types = dict(rules.field_types)
    for d in rules.dimensions:
        types[d.name] = "float" if d.kind == "score" else "str"
    g = _Gen(types)
    read = set().union(*(d.depends_on for d in rules.dimensions)) if rules.dimensions else set()
    flags = {d.name: ident(f"_g{i}") for i, d in enumerate(rules.dimensions) if d.name in read}
    for name, flag in flags.items():
        g.emit(1, f"{flag} = {name!r} in _given")
    g.emit(1, "def evaluate(account):")
    g.emit(2, "get = account.get")
    out: list[str] = []
    for d in rules.dimensions:
        r = ident(f"r{len(out)}")
        out.append(f"{d.name!r}: {r}")
        if d.kind == "label":
            bound = set(g.locals_)
            _label(g, d, r)
            for v in set(g.locals_) - bound:  # bound in one branch only: bind again where needed
                del g.locals_[v]
        else:
            _score(g, d, r)
            if all(type(x) is int for x in (d.default, *(rule.points for rule in d.rules))):
                g.hints[d.name] = "int"
        if d.name in flags:  # an inline test gives this dimension: later rules read its value
            g.emit(2, f"if {flags[d.name]}:")
            g.emit(3, f"{r} = _DimResult(_raw(get({d.name!r})), ())")
        for v in [v for v in g.locals_ if _reads(v, d.name)]:
            del g.locals_[v]  # (none: dependency order) a later rule reads the result, not the account
        g.sources[d.name] = f"{r}.value"  # later rules read this result, not the account
    g.emit(2, "return {" + ", ".join(out) + "}")
    g.emit(1, "return evaluate")
    params = ["_DimResult", "_now", "_given", "_INF", "_datetime_t", "_date_t", *HELPERS, *g.consts]
    src = "def _make(" + ", ".join(map(ident, params)) + "):\n" + "\n".join(g.lines) + "\n"
    return src, {**g.consts}


def _reads(v: ir.Value, name: str) -> bool:
    return v.name == name if isinstance(v, ir.Field) else _reads(v.arg, name)


def _label(g: _Gen, d: Any, r: str) -> None:
    """First matching rule wins; each rule's values are bound just before its test."""
    default = g.const("res", DimResult(d.default, ()))
    g.emit(2, f"{r} = {default}")
    g.emit(2, "while True:")  # a block to break out of: one exit per rule
    for rule in d.rules:
        g.prepare(rule.pred, 3)
        res = g.const("res", DimResult(rule.value, (rule.name,)))
        g.emit(3, f"if {g.pred(rule.pred)}:")
        g.emit(4, f"{r} = {res}")
        g.emit(4, "break")
    g.emit(3, "break")


def _score(g: _Gen, d: Any, r: str) -> None:
    """Every matching rule sets its bit; the result per set of bits comes from ``ScoreTable``
    (points added in file order there, so totals equal adding them here)."""
    for rule in d.rules:
        g.prepare(rule.pred, 2)
    table = g.const("score", ScoreTable(d.default, [(rule.name, rule.points) for rule in d.rules]))
    g.emit(2, "m = 0")
    for i, rule in enumerate(d.rules):
        g.emit(2, f"if {g.pred(rule.pred)}:")
        g.emit(3, f"m |= {1 << i}")
    g.emit(2, f"{r} = {table}.get(m)")
    g.emit(2, f"if {r} is None:")
    g.emit(3, f"{r} = {table}(m)")


class ScoreTable(dict[int, DimResult]):
    """One score dimension's results by the set of matching rules (a bit mask, bit i = rule i):
    built once per set seen, up to ``MAX`` of them (then built per account), and shared —
    no list, tuple or result allocated per account for a set seen before."""

    MAX = 4096

    def __init__(self, default: Any, rules: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.default, self.rules = default, rules

    def __call__(self, mask: int) -> DimResult:
        total, fired = self.default, []
        for i, (name, points) in enumerate(self.rules):
            if mask >> i & 1:
                total += points
                fired.append(name)
        res = DimResult(total, tuple(fired))
        if len(self) < self.MAX:
            self[mask] = res
        return res


Evaluate = Callable[[dict[str, Any]], dict[str, DimResult]]


def build(rules: RuleSet) -> Callable[[datetime, frozenset[str]], Evaluate]:
    """Generate and ``compile()`` the evaluator of ``rules`` once; the result makes one
    ``evaluate`` per clock and given dimensions (see :func:`generate`) without compiling again."""
    src, consts = generate(rules)
    namespace: dict[str, Any] = {}
    exec(compile(src, "<crmseg rules>", "exec"), namespace)
    make, helpers, objects = namespace["_make"], tuple(HELPERS.values()), tuple(consts.values())

    def instantiate(now: datetime, given: frozenset[str] = frozenset()) -> Evaluate:
        return cast("Evaluate", make(DimResult, now, given, math.inf, datetime, date, *helpers, *objects))

    return instantiate
