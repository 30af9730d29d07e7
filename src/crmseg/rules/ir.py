"""The compiled intermediate form every engine runs, and the checker that lowers AST to it.

Lowering type-checks against the known fields (mapping types, other dimensions,
pass-through text columns) and reports problems as ExprError at the right column.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from crmseg.rules import ast
from crmseg.rules.parser import ExprError
from crmseg.rules.semantics import FLIP, compare, regex_problem


# ------------------------------------------------------------------ IR nodes
@dataclass(frozen=True, slots=True)
class Field:
    name: str


@dataclass(frozen=True, slots=True)
class Fn:
    """A value-producing function: ``lower`` or ``days_since``."""

    func: str
    arg: Value


Value = Field | Fn


@dataclass(frozen=True, slots=True)
class Cmp:
    """``left op right`` with a literal right side."""

    left: Value
    op: str
    right: Any
    src: str


@dataclass(frozen=True, slots=True)
class Cmp2:
    """``left op right`` between two values."""

    left: Value
    op: str
    right: Value
    src: str


@dataclass(frozen=True, slots=True)
class Test:
    """A boolean function of one value: contains/startswith/endswith/matches (``lit`` is the
    text), has/lacks (``lit`` is the list item), is_set (``lit`` is the declared type)."""

    func: str
    arg: Value
    lit: Any
    src: str


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Pred, ...]
    src: str


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Pred, ...]
    src: str


@dataclass(frozen=True, slots=True)
class Not:
    item: Pred
    src: str


@dataclass(frozen=True, slots=True)
class Const:
    value: bool
    src: str


Pred = Cmp | Cmp2 | Test | And | Or | Not | Const

# ------------------------------------------------------------------ types
TEXT_FUNCS = {"contains", "startswith", "endswith", "matches"}
VALUE_FUNCS = {"lower": ("str", "str"), "days_since": ("date", "int")}
FUNCTIONS = sorted(TEXT_FUNCS | set(VALUE_FUNCS) | {"is_set"})
_KIND_WORD = {
    "str": "text",
    "int": "a number",
    "float": "a number",
    "bool": "true/false",
    "date": "a date",
    "datetime": "a date",
    "list": "a list",
}


def lit_type(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    return "str"


def _family(t: str | None) -> str | None:
    return {"int": "num", "float": "num", "date": "date", "datetime": "date"}.get(t or "", t)


def suggest(name: str, known: list[str]) -> str:
    """' — did you mean 'x'?' for the closest known name (case-insensitive), else ''."""
    folded = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.6)
    return f" — did you mean '{folded[close[0]]}'?" if close and folded[close[0]] != name else ""


@dataclass
class Lowering:
    """Turns one expression's AST into IR, type-checking as it goes."""

    types: dict[str, str]  # known names -> type
    warnings: list[str]

    def predicate(self, node: ast.Node) -> Pred:
        if isinstance(node, ast.BoolOp):
            items = tuple(self.predicate(i) for i in node.items)
            return And(items, node.text) if node.op == "and" else Or(items, node.text)
        if isinstance(node, ast.Not):
            return Not(self.predicate(node.item), node.text)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            if node.func in TEXT_FUNCS or node.func == "is_set":
                return self._test_call(node)
            if node.func in VALUE_FUNCS:
                raise ExprError(
                    node.col, f"{node.func}(...) gives a value, not a condition; compare it, e.g. {node.text} > 30"
                )
            raise ExprError(node.col, f"unknown function '{node.func}'{suggest(node.func, FUNCTIONS)}")
        if isinstance(node, ast.Name):
            t = self._name_type(node)
            if t == "bool":
                return Cmp(Field(node.name), "==", True, node.text)
            raise ExprError(
                node.col,
                f"'{node.name}' is {_KIND_WORD.get(t, t)}, not a condition; compare it (e.g. is_set({node.name}))",
            )
        if isinstance(node, ast.Lit) and isinstance(node.value, bool):
            return Const(node.value, node.text)
        raise ExprError(node.col, f"{node.text} is not a condition")

    # -- values
    def _name_type(self, node: ast.Name) -> str:
        if node.name not in self.types:
            raise ExprError(node.col, f"unknown field '{node.name}'{suggest(node.name, sorted(self.types))}")
        return self.types[node.name]

    def value(self, node: ast.Node) -> tuple[Value, str]:
        """A value expression and its type."""
        if isinstance(node, ast.Name):
            return Field(node.name), self._name_type(node)
        if isinstance(node, ast.Call) and node.func in VALUE_FUNCS:
            want, gives = VALUE_FUNCS[node.func]
            if len(node.args) != 1:
                raise ExprError(node.col, f"{node.func}() takes 1 argument, got {len(node.args)}")
            arg, t = self.value(node.args[0])
            if _family(t) != _family(want):
                raise ExprError(
                    node.args[0].col,
                    f"{node.func}() needs {_KIND_WORD[want]} field, "
                    f"but '{node.args[0].text}' is {_KIND_WORD.get(t, t)}",
                )
            return Fn(node.func, arg), gives
        if isinstance(node, ast.Call) and node.func not in FUNCTIONS:
            raise ExprError(node.col, f"unknown function '{node.func}'{suggest(node.func, FUNCTIONS)}")
        raise ExprError(node.col, f"expected a field or lower()/days_since() here, found {node.text}")

    def _test_call(self, node: ast.Call) -> Pred:
        if node.func == "is_set":
            if len(node.args) != 1:
                raise ExprError(node.col, f"is_set() takes 1 argument, got {len(node.args)}")
            arg, t = self.value(node.args[0])
            return Test("is_set", arg, t, node.text)
        if len(node.args) != 2:
            raise ExprError(node.col, f"{node.func}() takes 2 arguments (field, 'text'), got {len(node.args)}")
        arg, t = self.value(node.args[0])
        lit = node.args[1]
        if not isinstance(lit, ast.Lit) or not isinstance(lit.value, str):
            raise ExprError(lit.col, f"{node.func}()'s second argument must be a quoted text")
        allowed = ("str", "list") if node.func == "contains" else ("str",)
        if t not in allowed:
            raise ExprError(
                node.args[0].col,
                f"{node.func}() needs a text field, but '{node.args[0].text}' is {_KIND_WORD.get(t, t)}",
            )
        if node.func == "matches":
            problem = regex_problem(lit.value)
            if problem is not None:
                raise ExprError(lit.col, f"invalid regular expression: {problem}")
        if node.func == "contains" and t == "list":
            return Test("has", arg, lit.value, node.text)
        return Test(node.func, arg, lit.value, node.text)

    # -- comparisons
    def _compare(self, node: ast.Compare) -> Pred:
        operands = (node.first, *node.rest)
        parts: list[Pred] = []
        for i, op in enumerate(node.ops):
            left, right = operands[i], operands[i + 1]
            text = f"{left.text} {op} {right.text}"
            if op in ("in", "not in"):
                parts.append(self._membership(left, op, right, text))
            else:
                parts.append(self._binary(left, op, right, text))
        return parts[0] if len(parts) == 1 else And(tuple(parts), node.text)

    def _binary(self, left: ast.Node, op: str, right: ast.Node, text: str) -> Pred:
        if isinstance(left, ast.ListLit) or isinstance(right, ast.ListLit):
            bad = left if isinstance(left, ast.ListLit) else right
            raise ExprError(bad.col, f"a list can only follow 'in' / 'not in', not '{op}'")
        if isinstance(left, ast.Lit) and isinstance(right, ast.Lit):
            self.warnings.append(f"'{text}' compares two literals; it is always {compare(left.value, op, right.value)}")
            return Const(compare(left.value, op, right.value), text)
        if isinstance(left, ast.Lit):
            left, right, op = right, left, FLIP[op]
        lv, lt = self.value(left)
        if isinstance(right, ast.Lit):
            if right.value is None:
                self.warnings.append(
                    f"'{text}' compares with null, which is always false (a missing value); use is_set()"
                )
                return Const(False, text)
            self._check_types(lt, lit_type(right.value), op, left, right)
            return Cmp(lv, op, right.value, text)
        rv, rt = self.value(right)
        self._check_types(lt, rt, op, left, right)
        return Cmp2(lv, op, rv, text)

    def _check_types(self, lt: str, rt: str | None, op: str, left: ast.Node, right: ast.Node) -> None:
        lf, rf = _family(lt), _family(rt)
        if lf == "date":
            raise ExprError(left.col, f"'{left.text}' is a date; compare days_since({left.text}) with a number of days")
        if lf == "list":
            raise ExprError(
                left.col, f"'{left.text}' is a list; use 'value' in {left.text} or contains({left.text}, 'value')"
            )
        if lf != rf:
            raise ExprError(
                right.col,
                f"type mismatch: '{left.text}' is {_KIND_WORD.get(lt, lt)} "
                f"but {right.text} is {_KIND_WORD.get(rt or '', rt)}",
            )
        if lf == "bool" and op not in ("==", "!="):
            raise ExprError(right.col, f"true/false values only compare with == or !=, not '{op}'")

    def _membership(self, left: ast.Node, op: str, right: ast.Node, text: str) -> Pred:
        if isinstance(right, ast.ListLit):
            lv, lt = self.value(left) if not isinstance(left, ast.Lit) else (None, None)
            if lv is None:
                raise ExprError(left.col, f"'{op}' a list needs a field on its left")
            for item in right.items:
                if item.value is not None:
                    self._check_types(lt or "", lit_type(item.value), "==", left, item)
            values = [i.value for i in right.items if i.value is not None]
            if op == "in":
                return (
                    Or(tuple(Cmp(lv, "==", v, f"{left.text} == {v!r}") for v in values), text)
                    if values
                    else Const(False, text)
                )
            if not values:
                return Test("is_set", lv, lt, text)
            return And(tuple(Cmp(lv, "!=", v, f"{left.text} != {v!r}") for v in values), text)
        rv, rt = self.value(right)
        if rt != "list":
            raise ExprError(
                right.col,
                f"'{op}' needs a list on its right, but '{right.text}' is {_KIND_WORD.get(rt, rt)}; "
                f"for text use contains({right.text}, ...)",
            )
        if not isinstance(left, ast.Lit) or left.value is None:
            raise ExprError(
                left.col, f"the value looked for in '{right.text}' must be a literal, e.g. 'Salesforce' in {right.text}"
            )
        has = Test("has", rv, left.value, f"{left.text} in {right.text}")
        if op == "in":
            return has
        return Test("lacks", rv, left.value, text)


def values_of(pred: Pred) -> list[Value]:
    """Every value expression a predicate compares or tests, at any depth of and/or/not."""
    out: list[Value] = []

    def walk(p: Pred) -> None:
        if isinstance(p, (And, Or)):
            for i in p.items:
                walk(i)
        elif isinstance(p, Not):
            walk(p.item)
        elif isinstance(p, Cmp):
            out.append(p.left)
        elif isinstance(p, Test):
            out.append(p.arg)
        elif isinstance(p, Cmp2):
            out.extend((p.left, p.right))

    walk(pred)
    return out


def fields_of(pred: Pred) -> set[str]:
    """Every field name a predicate reads."""
    out: set[str] = set()

    def val(v: Value) -> None:
        if isinstance(v, Field):
            out.add(v.name)
        else:
            val(v.arg)

    for v in values_of(pred):
        val(v)
    return out


def functions_of(pred: Pred) -> set[str]:
    """Every value function (``lower``, ``days_since``) a predicate calls, nested calls included."""
    out: set[str] = set()

    def val(v: Value) -> None:
        if isinstance(v, Fn):
            out.add(v.func)
            val(v.arg)

    for v in values_of(pred):
        val(v)
    return out
