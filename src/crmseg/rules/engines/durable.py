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
- Long conditions are computed in Python too: a membership list of more than
  ``LONG_LIST`` items becomes one set test, and an ``and``/``or`` that durable would
  expand into more than ``MAX_TERMS`` alternatives or ``MAX_WEIGHT`` expressions one
  boolean slot — durable-rules takes minutes (ignoring Ctrl-C) to build a ruleset from
  a 700-term ``or``, and refuses 32 expressions in one rule (error 113).
- Labels: one ruleset per dimension, rules at ``pri`` = file order, each event is
  consumed by the first match; a catch-all at the lowest priority gives the default.
  Scores: the accounts are asserted as facts, so every matching rule fires; they are
  retracted afterwards; a fact that matches several branches of an ``or`` fires the
  rule once per branch, so fired names are de-duplicated.
- Batches, not round trips: up to ``BATCH`` accounts go to a ruleset in one call
  (``assert_events``/``assert_facts``), each rule has ``cap = BATCH`` so one action
  carries every account it matched (``ix__`` says which), and actions are driven
  through the C API directly (no Host, no per-action state update).
- Each engine uses its own uniquely named rulesets and deletes them on ``close``,
  so instances never share state and rules can be reloaded in one process.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import logging
import math
import re
import threading
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import durable_rules_engine as dre

from crmseg.errors import FatalError
from crmseg.model import DimResult
from crmseg.rules import ir
from crmseg.rules import semantics as sem
from crmseg.rules.closures import compile_pred, compile_value
from crmseg.rules.model import RuleSet

# An action's error (Ctrl-C included) comes back to ``_run``, which raises it; durable's own
# logger.exception would also print a traceback on stderr, so it is kept quiet.
logging.getLogger("durable").setLevel(logging.CRITICAL)

_ids = itertools.count()
_lock = threading.Lock()
_NEG = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_OPS = {"==": None, "!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
TRUE: dict[str, Any] = {"k__": 1}
FALSE: dict[str, Any] = {"k__": 2}
BATCH = 1000  # accounts per call, and each rule's ``cap``
LONG_LIST = 16  # longer membership lists are one set test computed in Python
MAX_TERMS = 32  # conditions durable would expand into more alternatives are computed in Python
MAX_WEIGHT = 24  # ... and those with more expressions (durable refuses 32 in one rule)
_RULE = re.compile(r'\{"(r\d+|default)":')
_IX = re.compile(r'"ix__":\s*(\d+)')


def _suffix(v: Any) -> str | None:
    if isinstance(v, bool):
        return "__b"
    if isinstance(v, (int, float)):
        return "__n"
    if isinstance(v, str):
        return "__s"
    return None


def _long_list(p: ir.Pred) -> bool:
    """``v in [...]`` / ``v not in [...]`` with more than LONG_LIST items."""
    return (
        isinstance(p, (ir.And, ir.Or))
        and len(p.items) > LONG_LIST
        and all(isinstance(i, ir.Cmp) and i.op in ("==", "!=") for i in p.items)
        and len({i.left for i in p.items if isinstance(i, ir.Cmp)}) == 1
    )


def _cost(p: ir.Pred, neg: bool) -> tuple[int, int]:
    """(alternatives, expressions) of ``p``'s condition as ``cond`` builds it, projections made.

    durable-rules refuses a rule whose expression sequence reaches 32 entries (error 113,
    and/or groups count too) and grows slowly with many alternatives; past MAX_WEIGHT
    entries or MAX_TERMS alternatives a node is one boolean slot (1, 1)."""
    if isinstance(p, ir.Not):
        return _cost(p.item, not neg)
    if isinstance(p, (ir.And, ir.Or)):
        if _long_list(p):
            return 1, 1
        is_and = isinstance(p, ir.And) != neg
        terms, weight = (1 if is_and else 0), 2 if len(p.items) > 1 else 0
        for item in p.items:
            t, w = _cost(item, neg)
            terms = min(terms * t if is_and else terms + t, MAX_TERMS + 1)
            weight = min(weight + w, MAX_WEIGHT + 1)
        return (1, 1) if terms > MAX_TERMS or weight > MAX_WEIGHT else (terms, weight)
    if isinstance(p, ir.Cmp) and _slotted(p) and neg:
        return 2, 4  # a negated comparison: ``op'`` or the slot absent
    return 1, 1


def _projected(p: ir.And | ir.Or, neg: bool) -> bool:
    """Whether ``cond`` turns this ``and``/``or`` into one boolean computed in Python."""
    return _long_list(p) or (_cost(p, neg) == (1, 1) and len(p.items) > 1)


def _slotted(p: ir.Cmp) -> bool:
    """A literal comparison durable tests on the value's typed slot itself."""
    return bool(_suffix(p.right)) and not (isinstance(p.right, bool) and p.op not in ("==", "!="))


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
            if _projected(p, neg):
                return {self.test(p): not neg}  # one boolean, computed in Python
            is_and = isinstance(p, ir.And) != neg
            items = [self.cond(i, neg) for i in p.items]
            return items[0] if len(items) == 1 else {"$and" if is_and else "$or": items}
        if isinstance(p, ir.Cmp) and _slotted(p):
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
        text = repr(obj)
        if "e" not in text and "n" not in text:
            return text
        text = format(Decimal(text), "f")
        return text if "." in text else text + ".0"
    if isinstance(obj, (int, str)):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    raise TypeError(f"cannot send {type(obj).__name__} to durable-rules")


class _Dim:
    """One dimension's ruleset: its handle, kind and what each rule gives."""

    def __init__(
        self, name: str, kind: str, default: Any, handle: int, rules: list[tuple[str, Any]], c: _Compiler
    ) -> None:
        self.name, self.kind, self.default, self.handle = name, kind, default, handle
        self.rules = rules  # (rule name, label value or points), file order; the catch-all is not listed
        self._slots = c
        self._fill(c.now)

    def _fill(self, now: datetime) -> None:
        """The slots this dimension's rules read, and how to fill them from a cleaned account at ``now``."""
        c = self._slots
        self.getters = [(f"f_{f}", compile_value(ir.Field(f), now)) for f in sorted(c.fields)]
        self.getters += [(base, compile_value(v, now)) for v, base in c.values.items()]
        self.checks = [(slot, compile_pred(p, now)) for p, slot in c.tests.items()]

    def at(self, now: datetime) -> _Dim:
        """This dimension's ruleset (the same handle) with slots filled at ``now``: the clock only
        reaches durable-rules through the values computed in Python."""
        twin = copy.copy(self)
        twin._fill(now)
        return twin

    def event(self, ix: int, acc: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The event of one account, and whether it holds a float plain JSON would write with an exponent."""
        ev: dict[str, Any] = {"k__": 1, "ix__": ix}
        odd = False
        for base, get in self.getters:
            v = get(acc)
            if v is None or v == "":
                continue
            cls = v.__class__
            if cls is str:
                ev[base + "__s"] = v
            elif cls is int:
                ev[base + "__n"] = v
            elif cls is float:
                if v - v == 0:  # finite
                    ev[base + "__n"] = v
                    odd = odd or (v != 0 and not 1e-4 <= abs(v) < 1e16)
            elif cls is bool:
                ev[base + "__b"] = v
            else:
                odd = _put(ev, base, v) or odd
        for slot, check in self.checks:
            ev[slot] = check(acc)
        return ev, odd

    def fired(self, accs: list[dict[str, Any]]) -> list[list[int]]:
        """Per account, the indexes of the rules that fired (catch-all left out), in file order."""
        events = [self.event(ix, acc) for ix, acc in enumerate(accs)]
        out: list[set[int]] = [set() for _ in events]
        if any(odd for _, odd in events):
            text = "[" + ",".join(dumps(ev) for ev, _ in events) + "]"
        else:  # the C encoder: same text when no float needs plain decimal
            text = json.dumps([ev for ev, _ in events], ensure_ascii=False, separators=(",", ":"))
        facts = self.kind == "score"
        result = (dre.assert_facts if facts else dre.assert_events)(self.handle, text)
        if result[0] not in (0, 3):  # pragma: no cover - the catch-all matches every event
            raise FatalError(f"durable-rules did not take the events of '{self.name}' (code {result[0]})")
        action = dre.start_action(self.handle)
        while action:
            state, message, action_handle = action
            # an action is one rule's frames, {"r3": [{"m": {..., "ix__": 7, ...}}, ...]}: only the
            # rule and the ``ix__`` numbers are needed (a text value holding '"ix__":' is escaped)
            rule = _RULE.match(message)
            if rule is None:  # pragma: no cover - durable-rules changed its message shape
                raise FatalError(f"durable-rules sent an unexpected action: {message[:80]}")
            if rule.group(1) != "default":
                i = int(rule.group(1)[1:])
                for ix in _IX.findall(message):
                    out[int(ix)].add(i)
            nxt = dre.complete_and_start_action(self.handle, action_handle)
            action = (state, nxt, action_handle) if nxt else None
        if facts:
            dre.retract_facts(self.handle, text)
        return [sorted(s) for s in out]


class DurableEngine:
    """Runs a RuleSet on durable-rules; tags and fired rules identical to ``native``."""

    name = "durable"

    def __init__(self, rules: RuleSet, now: datetime) -> None:
        self.rules = rules
        self.now = now
        self._dims: list[_Dim] = []
        self._closed = False
        self._given: frozenset[str] = frozenset()
        self._owner: DurableEngine | None = None  # set on a copy made by ``at``: the engine whose rulesets it uses
        with _lock:
            uid = next(_ids)
        try:
            for d in rules.dimensions:
                c = _Compiler(now)
                definition: dict[str, Any] = {}
                for i, r in enumerate(d.rules):
                    definition[f"r{i}"] = {"all": [{"m": _anchored(c.cond(r.pred))}], "pri": i + 1, "cap": BATCH}
                definition["default"] = {"all": [{"m": TRUE}], "pri": len(d.rules) + 1, "cap": BATCH}
                handle = dre.create_ruleset(f"crmseg_{uid}_{d.name}", dumps(definition))
                payload = [(r.name, r.value if d.kind == "label" else r.points) for r in d.rules]
                self._dims.append(_Dim(d.name, d.kind, d.default, handle, payload, c))
        except BaseException:
            self.close()
            raise

    def at(self, now: datetime, given: Collection[str] = ()) -> DurableEngine:
        """The same rulesets, values computed at ``now``, the dimensions in ``given`` read from the account."""
        twin = copy.copy(self)
        twin.now = now
        twin._dims = [dim.at(now) for dim in self._dims]
        twin._given = frozenset(given)
        twin._owner = self._owner or self  # keeps the rulesets' owner (and so the rulesets) alive
        return twin

    def evaluate(self, account: dict[str, Any]) -> dict[str, DimResult]:
        """Every dimension's result, in dependency order; ``account`` is not modified."""
        return self._batch([account])[0]

    def evaluate_many(self, accounts: Iterable[dict[str, Any]]) -> Iterator[dict[str, DimResult]]:
        """``evaluate`` over many accounts, ``BATCH`` at a time per ruleset call, in order."""
        it = iter(accounts)
        while chunk := list(itertools.islice(it, BATCH)):
            yield from self._batch(chunk)

    def _batch(self, accounts: list[dict[str, Any]]) -> list[dict[str, DimResult]]:
        accs = [sem.clean(a) for a in accounts]
        outs: list[dict[str, DimResult]] = [{} for _ in accs]
        for dim in self._dims:
            if dim.name in self._given:  # an inline test gives it: the rules after it read the account's value
                for acc, out in zip(accs, outs, strict=True):
                    out[dim.name] = DimResult(acc.get(dim.name), ())
                continue
            fired = dim.fired(accs)
            for acc, out, hits in zip(accs, outs, fired, strict=True):
                if dim.kind == "label":
                    result = (
                        DimResult(dim.rules[hits[0]][1], (dim.rules[hits[0]][0],))
                        if hits
                        else DimResult(dim.default, ())
                    )
                else:
                    total = dim.default
                    for i in hits:
                        total += dim.rules[i][1]
                    result = DimResult(total, tuple(dim.rules[i][0] for i in hits))
                out[dim.name] = result
                sem.put_result(acc, dim.name, result.value)
        return outs

    def close(self) -> None:
        """Delete this engine's rulesets from the process-wide durable-rules host (a copy made by
        ``at`` leaves them to the engine it was made from)."""
        if self._closed or self._owner is not None:
            return
        self._closed = True
        for dim in self._dims:
            dre.delete_ruleset(dim.handle)

    def __del__(self) -> None:  # best effort; close() is the contract
        with contextlib.suppress(Exception):
            self.close()


def _put(ev: dict[str, Any], base: str, v: Any) -> bool:
    """A value of any other class (subclasses of the usual ones) into its typed slot; True: send with ``dumps``."""
    if v is None or v == "" or (isinstance(v, float) and not math.isfinite(v)):
        return False
    suffix = _suffix(v)
    if suffix:
        ev[base + suffix] = v
    return True
