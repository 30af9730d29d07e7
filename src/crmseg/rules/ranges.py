"""The set of values a single-field condition accepts: numeric intervals or (co)finite value
sets, with union, intersection and subset. Used by the lints (shadowed rules, conditions that
are always false). Missing values match nothing, on both sides, so they need no place here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from crmseg.rules import ir

__all__ = [
    "Interval",
    "Nums",
    "VSet",
    "Vals",
    "covers",
    "exact",
    "intersect",
    "is_empty",
    "key_of",
    "single",
    "subset",
    "union",
    "within",
]

Interval = tuple[float, bool, float, bool]  # lo, lo included, hi, hi included


@dataclass(frozen=True)
class Nums:
    """A union of disjoint, sorted numeric intervals."""

    parts: tuple[Interval, ...]


@dataclass(frozen=True)
class Vals:
    """A finite set of values, or (``co``) everything except them."""

    items: frozenset[Any]
    co: bool = False


VSet = Nums | Vals


def key_of(v: ir.Value) -> str:
    """The text naming a value: ``employees``, ``days_since(last_activity_at)``."""
    return v.name if isinstance(v, ir.Field) else f"{v.func}({key_of(v.arg)})"


def _merge(parts: list[Interval]) -> Nums:
    parts = sorted((p for p in parts if not _void(p)), key=lambda p: (p[0], not p[1]))
    out: list[Interval] = []
    for p in parts:
        if out:
            lo, lc, hi, hc = out[-1]
            if p[0] < hi or (p[0] == hi and (hc or p[1])):
                if p[2] > hi or (p[2] == hi and p[3]):
                    out[-1] = (lo, lc, p[2], p[3] or (p[2] == hi and hc))
                continue
        out.append(p)
    return Nums(tuple(out))


def _void(p: Interval) -> bool:
    lo, lc, hi, hc = p
    return lo > hi or (lo == hi and not (lc and hc))


_INF = math.inf


def single(p: ir.Pred) -> tuple[str, VSet] | None:
    """(value key, accepted set) when ``p`` is a comparison of one value with a literal."""
    if not isinstance(p, ir.Cmp) or p.op not in ("==", "!=", "<", "<=", ">", ">="):
        return None
    key, v = key_of(p.left), p.right
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        x = float(v)
        parts = {
            "==": [(x, True, x, True)],
            "!=": [(-_INF, False, x, False), (x, False, _INF, False)],
            "<": [(-_INF, False, x, False)],
            "<=": [(-_INF, False, x, True)],
            ">": [(x, False, _INF, False)],
            ">=": [(x, True, _INF, False)],
        }[p.op]
        return key, _merge(parts)
    if p.op in ("==", "!="):
        return key, Vals(frozenset([v]), co=p.op == "!=")
    return None


def union(a: VSet, b: VSet) -> VSet | None:
    if isinstance(a, Nums) and isinstance(b, Nums):
        return _merge([*a.parts, *b.parts])
    if isinstance(a, Vals) and isinstance(b, Vals):
        if not a.co and not b.co:
            return Vals(a.items | b.items)
        if a.co and b.co:
            return Vals(a.items & b.items, True)
        fin, co = (a, b) if not a.co else (b, a)
        return Vals(co.items - fin.items, True)
    return None


def intersect(a: VSet, b: VSet) -> VSet | None:
    if isinstance(a, Nums) and isinstance(b, Nums):
        parts = [
            (
                max(x[0], y[0]),
                x[1] if x[0] > y[0] else y[1] if y[0] > x[0] else x[1] and y[1],
                min(x[2], y[2]),
                x[3] if x[2] < y[2] else y[3] if y[2] < x[2] else x[3] and y[3],
            )
            for x in a.parts
            for y in b.parts
        ]
        return _merge(parts)
    if isinstance(a, Vals) and isinstance(b, Vals):
        if not a.co and not b.co:
            return Vals(a.items & b.items)
        if a.co and b.co:
            return Vals(a.items | b.items, True)
        fin, co = (a, b) if not a.co else (b, a)
        return Vals(fin.items - co.items)
    return None


def is_empty(s: VSet) -> bool:
    return not s.parts if isinstance(s, Nums) else (not s.co and not s.items)


def subset(a: VSet, b: VSet) -> bool:
    """Every value ``a`` accepts, ``b`` accepts too."""
    both = intersect(a, b)
    return both is not None and both == (_merge(list(a.parts)) if isinstance(a, Nums) else a)


def within(p: ir.Pred) -> dict[str, VSet]:
    """Per value key, a set that holds every value ``p`` can match with (an upper bound)."""
    one = single(p)
    if one is not None:
        return {one[0]: one[1]}
    if isinstance(p, ir.And):
        out: dict[str, VSet] = {}
        for item in p.items:
            for k, s in within(item).items():
                both = intersect(out[k], s) if k in out else s
                if both is not None:
                    out[k] = both
        return out
    if isinstance(p, ir.Or):
        parts = [within(i) for i in p.items]
        keys = set.intersection(*(set(x) for x in parts)) if parts else set()
        out = {}
        for k in keys:
            acc: VSet | None = parts[0][k]
            for x in parts[1:]:
                acc = union(acc, x[k]) if acc is not None else None
            if acc is not None:
                out[k] = acc
        return out
    return {}


def exact(p: ir.Pred) -> tuple[str, VSet] | None:
    """(key, set) when ``p`` only compares one value with literals: exactly what it matches."""
    one = single(p)
    if one is not None or not isinstance(p, (ir.And, ir.Or)):
        return one
    found = [exact(i) for i in p.items]
    parts = [x for x in found if x is not None]
    if not parts or len(parts) != len(found) or len({x[0] for x in parts}) != 1:
        return None
    acc: VSet | None = parts[0][1]
    for _, s in parts[1:]:
        acc = (intersect if isinstance(p, ir.And) else union)(acc, s) if acc is not None else None
    return None if acc is None else (parts[0][0], acc)


def covers(p: ir.Pred) -> dict[str, VSet]:
    """Per value key, a set of values that ``p`` surely matches (a lower bound)."""
    if isinstance(p, ir.Or):
        out: dict[str, VSet] = {}
        for item in p.items:
            for k, s in covers(item).items():
                both = union(out[k], s) if k in out else s
                if both is not None:
                    out[k] = both
        return out
    e = exact(p)
    return {e[0]: e[1]} if e is not None else {}
