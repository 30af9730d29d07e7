"""``crmseg rules diff``: two versions of the rules on the same accounts, read once.

Per dimension: counts before and after, the from -> to transition matrix, rule hit changes
and a few sample accounts per move with the rules that moved them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmseg.labels import label_order
from crmseg.model import NONE_LABEL, Account, DimResult
from crmseg.rules.engines import make_engine
from crmseg.rules.model import RuleSet
from crmseg.tags import tag_text

__all__ = ["DimDiff", "RulesDiff", "diff_rules"]

_NONE = DimResult(None)


def _label(value: Any) -> str:
    text = tag_text(value)
    return NONE_LABEL if text is None else text


def _rule(res: DimResult, kind: str) -> str:
    if not res.rules:
        return "(default)" if kind == "label" else "(no rule)"
    return ", ".join(res.rules)


def _names(account: Account) -> dict[str, str]:
    """The account's ``name`` and ``domain`` where it has them (shown beside its id)."""
    return {k: str(account[k]) for k in ("name", "domain") if account.get(k) not in (None, "")}


@dataclass
class DimDiff:
    """One dimension's movement between the base rules and the new ones."""

    name: str
    kind: str
    values: list[str] | None = None  # the new (else base) ``values`` order
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    matrix: Counter[tuple[str, str]] = field(default_factory=Counter)  # every (from, to), unchanged included
    hits_before: Counter[str] = field(default_factory=Counter)
    hits_after: Counter[str] = field(default_factory=Counter)
    samples: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)

    @property
    def moved(self) -> int:
        return sum(n for (a, b), n in self.matrix.items() if a != b)

    def moves(self) -> list[tuple[str, str, int]]:
        """(from, to, accounts) for every move, most accounts first."""
        return sorted(((a, b, n) for (a, b), n in self.matrix.items() if a != b), key=lambda m: (-m[2], m[0], m[1]))

    def order(self) -> list[str]:
        """Every value seen, in ``values`` order (scores numerically), ``(none)`` last."""
        return label_order(set(self.before) | set(self.after), self.values)

    def rule_changes(self) -> list[tuple[str, int, int]]:
        """(rule, hits before, hits after) for each rule whose hits changed."""
        names = list(dict.fromkeys([*self.hits_before, *self.hits_after]))
        return [
            (r, self.hits_before[r], self.hits_after[r]) for r in names if self.hits_before[r] != self.hits_after[r]
        ]


@dataclass
class RulesDiff:
    """The whole comparison; ``to_json`` is what ``--json`` writes."""

    base: str
    rules: str
    source: str
    as_of: str
    dimensions: list[DimDiff]
    accounts: int = 0
    moved: int = 0  # accounts with at least one dimension moved

    @property
    def moved_share(self) -> float:
        return self.moved / self.accounts if self.accounts else 0.0

    def to_json(self) -> dict[str, Any]:
        dims = {}
        for d in self.dimensions:
            dims[d.name] = {
                "kind": d.kind,
                "moved": d.moved,
                "counts": {
                    v: {"before": d.before[v], "after": d.after[v], "delta": d.after[v] - d.before[v]}
                    for v in d.order()
                },
                "matrix": [
                    {"from": a, "to": b, "accounts": n} for a in d.order() for b in d.order() if (n := d.matrix[a, b])
                ],
                "moves": [
                    {"from": a, "to": b, "accounts": n, "samples": d.samples.get((a, b), [])} for a, b, n in d.moves()
                ],
                "rules": {r: {"before": x, "after": y, "delta": y - x} for r, x, y in d.rule_changes()},
            }
        return {
            "base": self.base,
            "rules": self.rules,
            "source": self.source,
            "as_of": self.as_of,
            "accounts": self.accounts,
            "moved": self.moved,
            "moved_share": round(self.moved_share, 6),
            "dimensions": dims,
        }


def diff_rules(
    base: RuleSet,
    new: RuleSet,
    accounts: Iterable[tuple[str, Account]],
    engine: str,
    now: datetime,
    *,
    labels: tuple[str, str, str] = ("base", "rules", ""),
    samples: int = 3,
    tick: Callable[[int], None] | None = None,
) -> RulesDiff:
    """Evaluate ``base`` and ``new`` on each (id, account), once each, and count the movement."""
    names = list(dict.fromkeys([*new.names, *base.names]))
    info = {d.name: d for d in base.dimensions} | {d.name: d for d in new.dimensions}
    dims = [DimDiff(n, info[n].kind, info[n].values) for n in names]
    out = RulesDiff(labels[0], labels[1], labels[2], now.isoformat(timespec="seconds"), dims)
    e_base, e_new = make_engine(engine, base, now), make_engine(engine, new, now)
    try:
        for rid, acc in accounts:
            before, after = e_base.evaluate(dict(acc)), e_new.evaluate(dict(acc))
            moved = False
            for d in dims:
                rb, ra = before.get(d.name, _NONE), after.get(d.name, _NONE)
                a, b = _label(rb.value), _label(ra.value)
                d.before[a] += 1
                d.after[b] += 1
                d.matrix[a, b] += 1
                d.hits_before.update(rb.rules)
                d.hits_after.update(ra.rules)
                if a != b:
                    moved = True
                    keep = d.samples.setdefault((a, b), [])
                    if len(keep) < samples:
                        rules = {"before_rule": _rule(rb, d.kind), "after_rule": _rule(ra, d.kind)}
                        keep.append({"id": rid, **_names(acc), **rules})
            out.accounts += 1
            out.moved += moved
            if tick is not None and out.accounts % 1000 == 0:
                tick(out.accounts)
    finally:
        e_base.close()
        e_new.close()
    return out
