"""The durable engine: IR compiled to durable-rules (Rete) ruleset definitions.

How the IR maps onto the engine, and the traps it avoids:
- Account fields never reach the engine under their own names (``id``/``sid`` hang it):
  each value goes to a typed slot ``f_<field>__n`` (number), ``__s`` (text) or ``__b``
  (bool), so a comparison with a literal of another kind finds no slot and is false.
- Missing values are simply absent slots; durable's comparisons on absent fields are
  false, which is the language's rule. ``not`` is pushed down to the comparisons
  (De Morgan) and a negated comparison becomes ``op' or slot absent``.
- Functions, list membership and value-to-value comparisons are computed in Python
  (``semantics``, the same code the native engine runs) into projected slots
  (``p<k>__*`` values, ``t<k>`` booleans) that rules then test.
- Every condition is ANDed with the always-true ``k__ == 1``: a bare ``$nex`` (or an
  ``$or`` holding one) makes durable-rules spin forever in ``do_actions``.
- Labels: one ruleset per dimension, rules at ``pri`` = file order, the event is
  consumed by the first match; a catch-all at the lowest priority gives the default.
  Scores: the account is asserted as a fact, so every matching rule fires; it is
  retracted afterwards; a fact that matches several branches of an ``or`` fires the
  rule once per branch, so fired names are de-duplicated.
- Each engine uses its own uniquely named rulesets and deletes them on ``close``,
  so instances never share state and rules can be reloaded in one process. The
  engine's Host (with its background timer threads) is not used.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable

import durable_rules_engine as dre
from durable.engine import MessageNotHandledException, Promise, Ruleset

# An action's error (Ctrl-C included) comes back to ``_run``, which raises it; durable's own
# logger.exception would also print a traceback on stderr, so it is kept quiet.
logging.getLogger("durable").setLevel(logging.CRITICAL)

from crmseg.errors import FatalError
from crmseg.model import DimResult
from crmseg.rules import ir
from crmseg.rules import semantics as sem
from crmseg.rules.engines.native import compile_pred, compile_value
from crmseg.rules.model import RuleSet

_ids = itertools.count()
_lock = threading.Lock()
_NEG = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_OPS = {"==": None, "!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
TRUE: dict[str, Any] = {"k__": 1}
FALSE: dict[str, Any] = {"k__": 2}


def _suffix(v: Any) -> str | None:
    if isinstance(v, bool):
        return "__b"
    if isinstance(v, (int, float)):
        return "__n"
    if isinstance(v, str):
        return "__s"
    return None


class _Compiler:
    """Builds conditions for one engine, registering projected slots as it goes."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.fields: set[str] = set()
        self.values: dict[ir.Value, str] = {}  # projected value expressions -> slot base
        self.tests: dict[ir.Pred, str] = {}  # projected boolean atoms -> slot

    def slot(self, v: ir.Value) -> str:
        if isinstance(v, ir.Field):
            self.fields.add(v.name)
            return f"f_{v.name}"
        return self.values.setdefault(v, f"p{len(self.values)}")

    def test(self, p: ir.Pred) -> str:
        return self.tests.setdefault(p, f"t{len(self.tests)}")

    def cond(self, p: ir.Pred, neg: bool = False) -> dict[str, Any]:
        if isinstance(p, ir.Const):
            return TRUE if p.value != neg else FALSE
        if isinstance(p, ir.Not):
            return self.cond(p.item, not neg)
        if isinstance(p, (ir.And, ir.Or)):
            is_and = isinstance(p, ir.And) != neg
            items = [self.cond(i, neg) for i in p.items]
            return items[0] if len(items) == 1 else {"$and" if is_and else "$or": items}
        if isinstance(p, ir.Cmp) and _suffix(p.right) and not (isinstance(p.right, bool) and p.op not in ("==", "!=")):
            key = self.slot(p.left) + str(_suffix(p.right))
            if not neg:
                return _op(key, p.op, p.right)
            return {"$or": [_op(key, _NEG[p.op], p.right), {"$nex": {key: 1}}]}
        return {self.test(p): not neg}


def _anchored(cond: dict[str, Any]) -> dict[str, Any]:
    """AND a rule's condition with the always-present ``k__ == 1`` test.

    Seen here: a condition that is only ``$nex``, or an ``$or`` holding one, makes
    durable-rules loop forever on ``do_actions``; anchoring it with a positive test fixes it.
    """
    if cond is TRUE:
        return cond
    if "$and" in cond:
        return {"$and": [TRUE, *cond["$and"]]}
    return {"$and": [TRUE, cond]}


def _op(key: str, op: str, lit: Any) -> dict[str, Any]:
    name = _OPS[op]
    return {key: lit} if name is None else {name: {key: lit}}


def dumps(obj: Any) -> str:
    """JSON for the engine: floats in plain decimal (its parser rejects ``1e-05``)."""
    if isinstance(obj, bool) or obj is None:
        return json.dumps(obj)
    if isinstance(obj, float):  # always with a point: "2e19" as an integer text saturates at int64
        text = format(Decimal(repr(obj)), "f")
        return text if "." in text else text + ".0"
    if isinstance(obj, (int, str)):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    raise TypeError(f"cannot send {type(obj).__name__} to durable-rules")


class _Ruleset(Ruleset):
    """durable's Ruleset with our JSON encoding and no Host (no timer threads)."""

    def __init__(self, name: str, definition: dict[str, Any]) -> None:
        self._actions = {}
        self._name = name
        self._host = None
        for rule_name, rule in definition.items():
            self._actions[rule_name] = Promise(rule.pop("run"))
        self._handle = dre.create_ruleset(name, dumps(definition))
        self._definition = definition

    def assert_event(self, message: dict[str, Any]) -> Any:
        return self._handle_result(dre.assert_event(self._handle, dumps(message)), message)

    def assert_fact(self, fact: dict[str, Any]) -> Any:
        return self._handle_result(dre.assert_fact(self._handle, dumps(fact)), fact)

    def retract_fact(self, fact: dict[str, Any]) -> Any:
        return self._handle_result(dre.retract_fact(self._handle, dumps(fact)), fact)


class DurableEngine:
    """Runs a RuleSet on durable-rules; tags and fired rules identical to ``native``."""

    name = "durable"

    def __init__(self, rules: RuleSet, now: datetime) -> None:
        self.rules = rules
        self.now = now
        self._c = _Compiler(now)
        self._fired: list[str] = []
        self._plan: list[tuple[str, str, Any, _Ruleset, dict[str, Any]]] = []
        with _lock:
            uid = next(_ids)
        for d in rules.dimensions:
            definition: dict[str, Any] = {}
            payload = {r.name: (r.value if d.kind == "label" else r.points) for r in d.rules}
            for i, r in enumerate(d.rules):
                definition[f"r{i}"] = {"all": [{"m": _anchored(self._c.cond(r.pred))}], "pri": i + 1, "run": self._action(r.name)}
            definition["default"] = {"all": [{"m": TRUE}], "pri": len(d.rules) + 1, "run": self._action(None)}
            rs = _Ruleset(f"crmseg_{uid}_{d.name}", definition)
            order = {r.name: i for i, r in enumerate(d.rules)}
            self._plan.append((d.name, d.kind, d.default, rs, {"payload": payload, "order": order}))
        self._getters = [(f"f_{f}", compile_value(ir.Field(f), now)) for f in sorted(self._c.fields)]
        self._projected = [(base, compile_value(v, now)) for v, base in self._c.values.items()]
        self._checks: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
            (slot, compile_pred(p, now)) for p, slot in self._c.tests.items()]
        self._closed = False

    def _action(self, rule_name: str | None) -> Callable[[Any], None]:
        fired = self._fired

        def run(c: Any) -> None:
            if rule_name is not None:
                fired.append(rule_name)
            else:
                fired.append("")

        return run

    def _event(self, acc: dict[str, Any]) -> dict[str, Any]:
        ev: dict[str, Any] = dict(TRUE)
        for base, get in self._getters:
            _put(ev, base, get(acc))
        for base, get in self._projected:
            _put(ev, base, get(acc))
        for slot, check in self._checks:
            ev[slot] = check(acc)
        return ev

    def _run(self, rs: _Ruleset, ev: dict[str, Any], fact: bool) -> None:
        errors: list[Any] = []

        def done(e: Any, _state: Any) -> None:
            if e:
                errors.append(e)

        try:
            handle = rs.assert_fact(ev) if fact else rs.assert_event(ev)
        except MessageNotHandledException:  # pragma: no cover - the catch-all always matches
            return
        rs.do_actions(handle, done)
        if fact:
            rs.retract_fact(ev)
        if errors:
            if isinstance(errors[0], BaseException) and not isinstance(errors[0], Exception):
                raise errors[0]  # Ctrl-C (KeyboardInterrupt) caught by durable's action runner: stop the run
            raise FatalError(f"durable-rules failed: {errors[0]!r}")

    def evaluate(self, account: dict[str, Any]) -> dict[str, DimResult]:
        acc = sem.clean(account)
        out: dict[str, DimResult] = {}
        for name, kind, default, rs, meta in self._plan:
            self._fired.clear()
            self._run(rs, self._event(acc), fact=(kind == "score"))
            names = [n for n in self._fired if n]
            if kind == "label":
                result = DimResult(meta["payload"][names[0]], (names[0],)) if names else DimResult(default, ())
            else:
                # a fact matching several branches of an ``or`` fires the rule once per branch
                names = sorted(set(names), key=meta["order"].__getitem__)
                total = default
                for n in names:
                    total += meta["payload"][n]
                result = DimResult(total, tuple(names))
            out[name] = result
            if result.value is None:
                acc.pop(name, None)
            else:
                acc[name] = result.value
        return out

    def close(self) -> None:
        """Delete this engine's rulesets from the process-wide durable-rules host."""
        if self._closed:
            return
        self._closed = True
        for *_, rs, _meta in self._plan:
            dre.delete_ruleset(rs._handle)

    def __del__(self) -> None:  # best effort; close() is the contract
        try:
            self.close()
        except Exception:
            pass


def _put(ev: dict[str, Any], base: str, v: Any) -> None:
    if v is None or v == "" or (isinstance(v, float) and not math.isfinite(v)):
        return
    suffix = _suffix(v)
    if suffix:
        ev[base + suffix] = v
