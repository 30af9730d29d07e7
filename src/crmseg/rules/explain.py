"""Why an account got its tags: the rule that fired and, for earlier rules, what failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from crmseg.model import DimResult
from crmseg.rules import ir
from crmseg.rules import semantics as sem
from crmseg.rules.closures import compile_pred, compile_value
from crmseg.rules.model import RuleSet


@dataclass
class RuleTrace:
    name: str
    matched: bool
    when: str
    outcome: Any  # label value or points
    failed: list[str] = field(default_factory=list)  # the conditions that were false


@dataclass
class DimExplanation:
    name: str
    kind: str
    value: Any
    fired: tuple[str, ...]
    rules: list[RuleTrace]
    default_used: bool
    current: Any = None  # the CRM's tag now (None: empty)
    change: str | None = None  # unchanged / changed / added / cleared; None when not known


def rule_text(v: Any) -> str:
    """A value as the rule language writes it: 'text', true/false, ['a', 'b'], null."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, (list, tuple, set, frozenset)):
        return "[" + ", ".join(rule_text(x) for x in v) + "]"
    if isinstance(v, datetime):
        d = v.astimezone(UTC) if v.tzinfo else v
        return d.isoformat().replace("+00:00", "Z")
    if isinstance(v, date):
        return v.isoformat()
    return repr(v)


class _Why:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def holds(self, p: ir.Pred, acc: dict[str, Any]) -> bool:
        return compile_pred(p, self.now)(acc)

    def show(self, v: ir.Value, acc: dict[str, Any]) -> str:
        x = compile_value(v, self.now)(acc)
        label = v.name if isinstance(v, ir.Field) else f"{v.func}({_vtext(v.arg)})"
        return f"{label} is missing" if x is None else f"{label} = {rule_text(x)}"

    def failed(self, p: ir.Pred, acc: dict[str, Any]) -> list[str]:
        """The smallest false parts of a false predicate, each with the values it read."""
        if isinstance(p, ir.And):
            for item in p.items:
                if not self.holds(item, acc):
                    return self.failed(item, acc)
            return []
        if isinstance(p, ir.Or):
            values = {i.left if isinstance(i, ir.Cmp) else i.arg if isinstance(i, ir.Test) else None for i in p.items}
            one = values.pop() if len(values) == 1 else None
            if one is not None:  # e.g. `industry in [...]`: one line, one value
                return [f"{p.src}  ({self.show(one, acc)})"]
            return [reason for item in p.items for reason in self.failed(item, acc)]
        if isinstance(p, ir.Not):
            return [f"not ({p.item.src}): it is true"]
        if isinstance(p, ir.Const):
            return [f"{p.src} is always false"]
        if isinstance(p, ir.Cmp2):
            return [f"{p.src}  ({self.show(p.left, acc)}; {self.show(p.right, acc)})"]
        value = p.left if isinstance(p, ir.Cmp) else p.arg
        return [f"{p.src}  ({self.show(value, acc)})"]


def _vtext(v: ir.Value) -> str:
    return v.name if isinstance(v, ir.Field) else f"{v.func}({_vtext(v.arg)})"


def explain(
    rules: RuleSet, account: dict[str, Any], results: dict[str, DimResult], now: datetime
) -> list[DimExplanation]:
    """Trace every dimension for one account, given the engine's results for it."""
    why = _Why(now)
    acc = sem.clean(account)  # the account exactly as the engines see it
    out: list[DimExplanation] = []
    for d in rules.dimensions:
        res = results[d.name]
        traces: list[RuleTrace] = []
        for r in d.rules:
            ok = why.holds(r.pred, acc)
            traces.append(
                RuleTrace(
                    r.name,
                    ok,
                    r.when,
                    r.value if d.kind == "label" else r.points,
                    [] if ok else why.failed(r.pred, acc),
                )
            )
            if ok and d.kind == "label":
                break
        out.append(DimExplanation(d.name, d.kind, res.value, res.rules, traces, d.kind == "label" and not res.rules))
        sem.put_result(acc, d.name, res.value)
    return out


def with_current(expl: list[DimExplanation], current: dict[str, Any]) -> list[DimExplanation]:
    """Fill in each dimension's current CRM tag and what writing the computed one would do."""
    from crmseg.tags import classify

    for d in expl:
        d.current = current.get(d.name)
        d.change = classify(d.current, d.value)
    return expl


_CHANGE_WORDS = {
    "unchanged": "unchanged",
    "changed": "would change",
    "added": "would be set",
    "cleared": "would be cleared",
}


def render_text(expl: list[DimExplanation], account_id: str) -> str:
    """Plain text for the terminal."""
    from crmseg.tags import tag_text

    lines = [f"account {account_id}"]
    for d in expl:
        shown = "(none)" if d.value is None else d.value
        crm = ""
        if d.change is not None:
            now = tag_text(d.current)
            crm = f"   (CRM now: {'(none)' if now is None else now}; {_CHANGE_WORDS[d.change]})"
        lines.append(f"\n{d.name} = {shown}{crm}")
        for t in d.rules:
            if d.kind == "label":
                mark = "FIRED" if t.matched else "no   "
                lines.append(f"  {mark} {t.name} -> {t.outcome}   when: {t.when}")
            else:
                mark = f"{t.outcome:+g}" if t.matched else "  0"
                lines.append(f"  {mark:>6} {t.name}   when: {t.when}")
            for reason in t.failed:
                lines.append(f"          false: {reason}")
        if d.default_used:
            lines.append(f"  no rule matched: default {shown}")
    return "\n".join(lines)


def unknown_fields(data: dict[str, Any], mapping: Any, rules: RuleSet) -> list[str]:
    """A warning per key of an ``--account`` that no rule reads and no mapping field, tag or
    pin column names (a typo such as ``employes``): it changes nothing."""
    from crmseg.rules.ir import suggest

    dims = rules.names
    known = set(mapping.fields) | set(rules.used_fields()) | set(dims) | {"id"}
    known |= {n for n in (mapping.id_field, mapping.modified_field, mapping.pin_field) if n}
    known |= {f for f in (mapping.tag_field(d) for d in dims) if f}
    names = sorted(set(mapping.fields) | set(rules.used_fields()))
    return [
        f"--account field '{k}' is read by no rule and declared by no mapping field, so it changes "
        f"nothing{suggest(k, names)}"
        for k in data
        if k not in known
    ]
