"""Raw CRM records -> canonical accounts: types, normalization, synonyms, data quality.

A value that is absent, ``None`` or blank text is *missing*: its key is left out of the
account. A value that cannot be converted to the field's type ("n/a" in an int field, an
unknown country) is left out too and counted as *invalid*. Per-field converters are built
once in ``Normalizer.__init__``; ``account()`` (it runs per record) is generated code that
gives what the plain loop over them gives (``normalize.codegen``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from crmseg.config import FieldMap, Mapping
from crmseg.dates import parse_date, parse_datetime, to_date, to_datetime
from crmseg.errors import ConfigError
from crmseg.model import Account, RawRecord
from crmseg.normalize.codegen import MEMO_MAX, NO_HIT, build, plain
from crmseg.normalize.countries import to_alpha2

# parse_date and parse_datetime live in crmseg.dates; listed here with the other public value parsers
__all__ = ["Normalizer", "make_converter", "parse_bool", "parse_date", "parse_datetime", "parse_float", "parse_int"]

_IDENT = re.compile(r"[a-z][a-z0-9_]*")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_CURRENCY = "$€£¥"
_BOOLS = {
    **dict.fromkeys(("true", "True", "TRUE", "yes", "Yes", "YES", "y", "t", "1"), True),
    **dict.fromkeys(("false", "False", "FALSE", "no", "No", "NO", "n", "f", "0"), False),
}
PIN_TEXTS = {**_BOOLS, "": False}  # blank: no value, so not pinned

Converter = Callable[[Any], Any]  # raw value -> value, None for missing; raises when invalid


# ---------------------------------------------------------------- value parsers
# Each ``_to_X`` is the converter for type X (dates and datetimes: ``crmseg.dates.to_X``): raw
# value -> value, None when blank, ValueError (or TypeError/OverflowError) when invalid. Clean CRM
# text goes through a C call first.
def _number_text(text: str) -> str:
    """Drop one leading currency sign and thousands commas ("1,200" yes, "1,20" no)."""
    if text[:1] in _CURRENCY:
        text = text[1:].lstrip()
    if "," in text:
        if not _THOUSANDS.fullmatch(text):
            raise ValueError(f"ambiguous number {text!r}")
        text = text.replace(",", "")
    return text


def _to_int(v: Any) -> int | None:
    if v.__class__ is str:
        if v:
            try:
                return int(v)
            except ValueError:
                pass
        s = v.strip()
        if not s:
            return None
        s = _number_text(s)
        try:
            return int(s)
        except ValueError:
            v = float(s)  # "1200.0", "1.2e3"; checked below
    if (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()):
        return int(v)
    raise ValueError(f"not a whole number: {v!r}")


def _to_float(v: Any) -> float | None:
    if v.__class__ is str:
        try:
            x = float(v)
        except ValueError:
            s = v.strip()
            if not s:
                return None
            x = float(_number_text(s))
    elif isinstance(v, bool):
        raise ValueError("a boolean is not a number")
    else:
        x = float(v)
    if x - x == 0:  # finite
        return x
    raise ValueError(f"not a finite number: {v!r}")


def _to_bool(v: Any) -> bool | None:
    if v.__class__ is str:
        hit = _BOOLS.get(v)
        if hit is None:
            s = v.strip()
            if not s:
                return None
            hit = _BOOLS.get(s.lower())
        if hit is not None:
            return hit
    elif isinstance(v, bool):
        return v
    elif isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise ValueError(f"not a boolean: {v!r}")


def _required(out: Any) -> Any:
    if out is None:
        raise ValueError("no value")
    return out


def parse_int(value: Any) -> int:
    """An int from an int, an integral float or text like "1,200" / "1200.0"; else ValueError."""
    return _required(_to_int(value))


def parse_float(value: Any) -> float:
    """A finite float from a number or text like "1,200.50", "$3,000", "1.5e6"; else ValueError."""
    return _required(_to_float(value))


def parse_bool(value: Any) -> bool:
    """true/false, yes/no, y/n, t/f, 1/0 (any case), a bool, or the ints 0 and 1."""
    return _required(_to_bool(value))


_TYPED: dict[str, Converter] = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "date": to_date,
    "datetime": to_datetime,
}


# ---------------------------------------------------------------- converter factories
def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def _country(s: str) -> str:
    code = to_alpha2(s)
    if code is None:
        raise ValueError(f"unknown country {s!r}")
    return code


def _text_post(fm: FieldMap) -> Callable[[str], str] | None:
    """Synonyms, then normalization, for one stripped non-empty text (None: nothing to do).

    A synonym hit is final: the canonical key is exactly what rules see."""
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    for canonical, variants in fm.synonyms.items():
        for spelling in (canonical, *variants):
            exact.setdefault(spelling.strip(), canonical)
            folded.setdefault(_fold(spelling), canonical)
    norm = {"country": _country, "lower": str.lower, "upper": str.upper}.get(fm.normalize or "")
    if not exact:
        return norm  # to_alpha2 has its own cache

    memo: dict[str, str] = {}  # the same few spellings repeat: remember (up to MEMO_MAX)

    def post(s: str) -> str:
        out = memo.get(s)
        if out is None:
            out = exact.get(s) or folded.get(_fold(s))
            if out is None:
                out = norm(s) if norm is not None else s  # may raise: not remembered
            if len(memo) < MEMO_MAX:
                memo[s] = out
        return out

    return post


def _text_converter(post: Callable[[str], str] | None) -> Converter:
    def conv(v: Any) -> Any:
        s = (v if v.__class__ is str else str(v)).strip()
        if not s:
            return None
        return post(s) if post is not None else s

    return conv


def _list_converter(sep: str, post: Callable[[str], str] | None) -> Converter:
    def items_of(parts: Iterable[Any]) -> tuple[str, ...] | None:
        out: list[str] = []
        for item in parts:
            s = "" if item is None else (item if item.__class__ is str else str(item)).strip()
            if s:
                if post is not None:
                    s = post(s)
                if s not in out:
                    out.append(s)
        return tuple(out) if out else None

    memo: dict[str, tuple[str, ...] | None] = {}

    def conv(v: Any) -> Any:
        if v.__class__ is str:  # CRM text "a;b;c": the same few stacks repeat, so remember them
            out = memo.get(v, NO_HIT)
            if out is NO_HIT:
                out = items_of(v.split(sep))
                if len(memo) < MEMO_MAX:
                    memo[v] = out
            return out
        if isinstance(v, (list, tuple, set, frozenset)):
            return items_of(v)
        return items_of(str(v).split(sep))

    return conv


def make_converter(name: str, fm: FieldMap, where: str = "") -> Converter:
    """The converter for one declared field; ConfigError for a contradictory declaration."""
    if fm.type not in ("str", "list") and (fm.normalize or fm.synonyms):
        raise ConfigError(
            f"{where}: fields.{name}: normalize and synonyms apply only to str and list fields, not {fm.type}"
        )
    if fm.type == "str":
        return _text_converter(_text_post(fm))
    if fm.type == "list":
        if not fm.separator:
            raise ConfigError(f"{where}: fields.{name}: separator must not be empty")
        return _list_converter(fm.separator, _text_post(fm))
    return _TYPED[fm.type]


# ---------------------------------------------------------------- the normalizer
class Normalizer:
    """Turns raw records into canonical accounts for one mapping and counts data quality."""

    def __init__(
        self,
        mapping: Mapping,
        passthrough: bool = False,
        run_started: datetime | None = None,
        *,
        reserved: Iterable[str] = (),
        codegen: bool = True,
    ) -> None:
        """``reserved``: names passthrough never produces (e.g. the dimension names).
        ``codegen=False``: ``account`` is the plain reference loop over the converters
        (``normalize.codegen.plain``) instead of generated code: the same accounts and counts,
        some 15% slower over an audit; for differential tests."""
        self.mapping = mapping
        self._codegen = codegen
        self.passthrough = passthrough
        self._reserved = frozenset(reserved)
        #: The run's reference time (UTC); rules measure ``days_since`` from it.
        self.run_started = parse_datetime(run_started or datetime.now(UTC))
        where = mapping.path or "mapping"
        self._plan: list[tuple[int, str, str, Converter]] = [
            (i, name, mapping.source_of(name), make_converter(name, fm, where))
            for i, (name, fm) in enumerate(mapping.fields.items())
        ]
        self._missing = [0] * len(self._plan)
        self._invalid = [0] * len(self._plan)
        #: ``account(raw)``: the canonical account of one raw record; missing and invalid values
        #: left out and counted. Generated per mapping (one straight line per field).
        self.account: Callable[[RawRecord], Account] = self._compile()
        self._pin = mapping.pin_field or None
        self._dims_fields: tuple[Any, list[tuple[str, str | None]]] = ((), [])
        self._sources = {src for _, _, src, _ in self._plan}
        self._tag_fields = set(mapping.tags.values())
        prefix, _, suffix = (mapping.tag_field_pattern or "").partition("{dimension}")
        self._tag_re = (
            re.compile(re.escape(prefix) + "[a-z][a-z0-9_]*" + re.escape(suffix)) if mapping.tag_field_pattern else None
        )
        self._pass_layout: tuple[Any, ...] = ()
        self._pass_plan: list[tuple[str, str]] = []
        self._restricted: dict[frozenset[str], Callable[[RawRecord], Account]] = {}

    # -- what to read
    def read_fields(self, dimensions: Iterable[str]) -> list[str]:
        """CRM fields to read: id, modified, pin, every mapped source, every tag field."""
        m = self.mapping
        names: list[str | None] = [m.id_field, m.modified_field, m.pin_field]
        names += [src for _, _, src, _ in self._plan]
        names += [m.tag_field(d) for d in dimensions]
        return list(dict.fromkeys(n for n in names if n))

    def field_types(self, columns: Iterable[str] = ()) -> dict[str, str]:
        """Canonical field -> type; with passthrough, each undeclared column as "str"."""
        types = {"id": "str", **self.mapping.field_types()}
        if self.passthrough:
            for col in columns:
                target = self._pass_target(col)
                if target is not None:
                    types.setdefault(target, "str")
        return types

    # -- per record
    def _compile(
        self, only: frozenset[str] | None = None, columns: dict[str, int] | None = None
    ) -> Callable[..., Account]:
        """``account`` for this mapping, generated and compiled once (see ``normalize.codegen``;
        the plain reference loop without ``codegen``); with ``only``, for the fields named in it
        alone; with ``columns``, over list rows."""
        fields = self.mapping.fields
        plan = [(i, name, src, fields[name]) for i, name, src, _ in self._plan if only is None or name in only]
        pass_fn = self._pass if only is None else self._passer(only)
        passthrough = self.passthrough and (only is None or self.passes_through(only))
        make = build if self._codegen else plain
        return make(
            plan, [conv for *_, conv in self._plan], passthrough, self._missing, self._invalid, pass_fn, columns, _BOOLS
        )

    def passes_through(self, fields: Iterable[str]) -> bool:
        """Whether an undeclared column could reach the account as one of ``fields`` (it passes
        through under its own name, never a declared field's or ``id``)."""
        return self.passthrough and bool(frozenset(fields) - self.mapping.fields.keys() - {"id"})

    def row_account_of(self, fields: Iterable[str], columns: dict[str, int]) -> Callable[[str, list[Any]], Account]:
        """``account_of(fields)`` over a CSV row as a list: ``account(id, row)``, ``columns``
        mapping each column name to its position (the last one when a name repeats, as a dict
        of the row keeps it). For fields no undeclared column passes through as
        (``passes_through`` is False)."""
        only = frozenset(fields)
        if self.passes_through(only):
            raise ValueError("row_account_of: an undeclared column may pass through; use account_of")
        return self._compile(only, dict(columns))

    def account_of(self, fields: Iterable[str]) -> Callable[[RawRecord], Account]:
        """``account`` restricted to ``fields``: only those declared fields are converted (and
        counted in ``quality``) and only those undeclared columns passed through; ``id`` is
        always set. For a run whose readers need only these fields — an audit's rules read
        ``RuleSet.used_fields()`` and it reports data quality for those alone — the accounts
        are ``account``'s with the other keys left out. Compiled once per set of fields."""
        only = frozenset(fields)
        fn = self._restricted.get(only)
        if fn is None:
            fn = self._restricted[only] = self._compile(only)
        return fn

    def current_tags(self, raw: RawRecord, dimensions: Iterable[str]) -> dict[str, Any]:
        """The tag values the CRM holds now, per dimension (None when empty or unmapped)."""
        dims = dimensions if isinstance(dimensions, (list, tuple)) else tuple(dimensions)
        if dims != self._dims_fields[0]:  # the same dimensions every record: look their fields up once
            self._dims_fields = (type(dims)(dims), [(d, self.mapping.tag_field(d)) for d in dims])
        get = raw.fields.get
        out: dict[str, Any] = {}
        for dim, field in self._dims_fields[1]:
            v: Any = get(field) if field else None
            if v.__class__ is str or isinstance(v, str):
                v = v.strip() or None
            out[dim] = v
        return out

    def pinned(self, raw: RawRecord) -> bool:
        """True when the mapped pin field holds a true value (never written back)."""
        pin = self._pin
        if pin is None:
            return False
        return self.pin_value(raw.fields.get(pin))

    @staticmethod
    def pin_value(v: Any) -> bool:
        """True when ``v``, a pin field's raw value (None: absent), is a true value."""
        hit = PIN_TEXTS.get(v) if v.__class__ is str else None  # the usual "true"/"false"/blank
        if hit is not None:
            return hit
        try:
            return bool(_to_bool(v))
        except (ValueError, TypeError):
            return False

    # -- data quality
    @property
    def quality(self) -> dict[str, dict[str, int]]:
        """Per declared field: how many values were missing and how many invalid."""
        return {name: {"missing": self._missing[i], "invalid": self._invalid[i]} for i, name, _, _ in self._plan}

    def reset_quality(self) -> None:
        """Zero the counters (e.g. between daemon runs that reuse one normalizer)."""
        self._missing[:] = [0] * len(self._plan)  # in place: ``account`` holds these lists
        self._invalid[:] = [0] * len(self._plan)

    # -- passthrough
    def _passer(self, only: frozenset[str]) -> Callable[[Any, Account], None]:
        """``_pass`` for the undeclared columns whose account key is in ``only``."""
        layout: list[Any] = [(), []]  # rows of one file share their columns: plan once

        def pass_only(fields: Any, acc: Account) -> None:
            keys = tuple(fields)
            if keys != layout[0]:
                layout[0] = keys
                layout[1] = [(k, t) for k in keys if (t := self._pass_target(k)) is not None and t in only]
            plan = layout[1]
            if not plan:
                return
            get = fields.get
            for key, target in plan:
                v = get(key)
                if v is not None:
                    s = (v if v.__class__ is str else str(v)).strip()
                    if s:
                        acc[target] = s

        return pass_only

    def _pass(self, fields: Any, acc: Account) -> None:
        keys = tuple(fields)
        if keys != self._pass_layout:  # rows of one file share their columns: plan once
            self._pass_layout = keys
            self._pass_plan = [(k, t) for k in keys if (t := self._pass_target(k)) is not None]
        if not self._pass_plan:
            return
        get = fields.get
        for key, target in self._pass_plan:
            v = get(key)
            if v is not None:
                s = (v if v.__class__ is str else str(v)).strip()
                if s:
                    acc[target] = s

    def _pass_target(self, key: Any) -> str | None:
        """The account key an undeclared source field passes through as, or None."""
        m = self.mapping
        if (
            not isinstance(key, str)
            or key in self._sources
            or key == "id"
            or key in m.fields
            or key in self._reserved
            or key in (m.id_field, m.pin_field)
            or key in self._tag_fields
            or not _IDENT.fullmatch(key)
            or (self._tag_re and self._tag_re.fullmatch(key))
        ):
            return None
        return key
