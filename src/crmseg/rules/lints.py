"""Lints: rules that silently do something other than what their author meant (warnings).

- a literal that normalization never produces (a synonym variant, a country by name where
  the data holds ISO codes, upper case in a lower-cased field, a value outside the CRM
  picklist's options when the schema is known);
- a condition that is always false (``employees > 10 and employees < 5``);
- a label rule that never fires because earlier rules match every account it would;
- a ``values`` entry that no rule and no default produces.

Each message names the file, the rule, the column in ``when`` and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping as TMapping
from typing import TYPE_CHECKING

from crmseg.rules import ir
from crmseg.rules import ranges as R
from crmseg.rules.model import Dimension, Rule, RuleSet

if TYPE_CHECKING:
    from crmseg.config import FieldMap, Mapping
    from crmseg.model import SchemaField

__all__ = ["lint_rules"]


def _col(when: str, *needles: str) -> int:
    for n in needles:
        i = when.find(n)
        if i >= 0:
            return i + 1
    return 1


def _where(dim: Dimension, rule: Rule, col: int) -> str:
    return f'{dim.path}: rule "{rule.name}" (when, col {col})'


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def _literals(p: ir.Pred) -> Iterator[tuple[str, str, str]]:
    """(field, literal, how) for every text literal compared with a plain field."""
    if isinstance(p, (ir.And, ir.Or)):
        for item in p.items:
            yield from _literals(item)
    elif isinstance(p, ir.Not):
        yield from _literals(p.item)
    elif isinstance(p, ir.Cmp) and isinstance(p.left, ir.Field) and isinstance(p.right, str) and p.op in ("==", "!="):
        yield p.left.name, p.right, "compares"
    elif (
        isinstance(p, ir.Test) and p.func in ("has", "lacks") and isinstance(p.arg, ir.Field) and isinstance(p.lit, str)
    ):
        yield p.arg.name, p.lit, "looks for"


class _Vocab:
    """What one mapping's normalization can produce for each text field."""

    def __init__(self, mapping: Mapping, schema: TMapping[str, SchemaField] | None) -> None:
        self.mapping = mapping
        self.schema = schema or {}
        self._options: dict[str, set[str] | None] = {}

    def problem(self, field: str, lit: str) -> str | None:
        """Why ``lit`` can never be a value of ``field``, with the fix; None when it can."""
        fm = self.mapping.fields.get(field)
        if fm is None or fm.type not in ("str", "list"):
            return None
        where = self.mapping.path or "the mapping"
        canon = set(fm.synonyms)
        folded = {_fold(s): c for c, vs in fm.synonyms.items() for s in (c, *vs)}
        if lit not in canon and _fold(lit) in folded:
            good = folded[_fold(lit)]
            return f"which {where} turns into '{good}': it can never match — write '{good}'"
        if lit not in canon and fm.normalize == "country":
            from crmseg.normalize.countries import to_alpha2

            code = to_alpha2(lit)
            if code is not None and code != lit:
                return (
                    f"a country by name where the data holds ISO 3166 codes ({where} normalizes {field}): "
                    f"it can never match — write '{code}'"
                )
            if code is None:
                return f"not a country {where} can produce (ISO 3166 alpha-2 codes such as 'US'): it can never match"
        if lit not in canon and fm.normalize in ("lower", "upper"):
            good = lit.lower() if fm.normalize == "lower" else lit.upper()
            if good != lit:
                return f"but {where} makes {field} {fm.normalize} case: it can never match — write '{good}'"
        options = self._picklist(field, fm)
        if options is not None and lit not in options:
            near = sorted(options)[:8]
            return (
                f"which is not among the CRM picklist options of {self.mapping.source_of(field)} "
                f"(normalized: {', '.join(repr(o) for o in near)}{', …' if len(options) > 8 else ''}): "
                "it can never match — use one of them or add the option in the CRM"
            )
        return None

    def _picklist(self, field: str, fm: FieldMap) -> set[str] | None:
        """The field's picklist options after normalization, when the CRM schema gives them."""
        if field in self._options:
            return self._options[field]
        from crmseg.normalize.normalizer import make_converter

        src = self.mapping.source_of(field)
        sf = self.schema.get(src) or next((f for k, f in self.schema.items() if k.lower() == src.lower()), None)
        out: set[str] | None = None
        if sf is not None and sf.options:
            conv = make_converter(field, fm)
            out = set()
            for o in sf.options:
                try:
                    v = conv(o)
                except (ValueError, TypeError):
                    continue
                out.update(v if isinstance(v, tuple) else [v] if v is not None else [])
        self._options[field] = out
        return out


def _always_false(p: ir.Pred) -> tuple[ir.Pred, str] | None:
    """The first and/chain inside ``p`` whose bounds on one value cannot all hold."""
    if isinstance(p, ir.And):
        for key, s in R.within(p).items():
            if R.is_empty(s):
                return p, key
    if isinstance(p, (ir.And, ir.Or)):
        for item in p.items:
            hit = _always_false(item)
            if hit is not None:
                return hit
    return None  # a `not (...)` is left alone: its inside being false makes it always true


def _shadowed(dim: Dimension) -> Iterator[tuple[Rule, list[str], str]]:
    """(rule, earlier rules, value key) for label rules the earlier ones always pre-empt."""
    earlier: list[tuple[Rule, dict[str, R.VSet]]] = []
    for rule in dim.rules:
        bounds = R.within(rule.pred)
        for key, mine in bounds.items():
            if R.is_empty(mine):
                continue
            seen = [(r, c[key]) for r, c in earlier if key in c]
            hit = [(r, s) for r, s in seen if not R.is_empty(R.intersect(mine, s) or R.Vals(frozenset()))]
            acc: R.VSet | None = None
            for _, s in hit:
                acc = s if acc is None else R.union(acc, s)
            if acc is not None and R.subset(mine, acc):
                yield rule, [r.name for r, _ in hit], key
                break
        earlier.append((rule, R.covers(rule.pred)))


def lint_rules(rules: RuleSet, mapping: Mapping | None, schema: TMapping[str, SchemaField] | None = None) -> list[str]:
    """Every lint warning for ``rules`` read through ``mapping`` (None: no normalization lints)."""
    out: list[str] = []
    vocab = _Vocab(mapping, schema) if mapping is not None else None
    for dim in rules.dimensions:
        for rule in dim.rules:
            if vocab is not None:
                for field, lit, how in dict.fromkeys(_literals(rule.pred)):
                    why = vocab.problem(field, lit)
                    if why:
                        col = _col(rule.when, repr(lit), f'"{lit}"', lit)
                        out.append(
                            f"{_where(dim, rule, col)}: {how} {field} {'to' if how == 'compares' else 'in'}"
                            f" {lit!r}, {why}"
                        )
            hit = _always_false(rule.pred)
            if hit is not None:
                node, key = hit
                out.append(
                    f"{_where(dim, rule, _col(rule.when, node.src))}: '{node.src}' is always false: no "
                    f"value of {key} meets every bound — fix the bounds (or disable the rule)"
                )
        if dim.kind == "label":
            for rule, by, key in _shadowed(dim):
                names = ", ".join(f'"{n}"' for n in by)
                out.append(
                    f"{_where(dim, rule, 1)}: can never fire: every account it matches on {key} is matched "
                    f"first by rule {names} — move it above, or narrow the earlier rule"
                )
            produced = {r.value for r in dim.rules} | {dim.default}
            for v in dim.values or []:
                if v not in produced:
                    out.append(
                        f"{dim.path}: values: '{v}' is produced by no rule and is not the default — "
                        "add a rule that sets it or remove it from values"
                    )
    return out
