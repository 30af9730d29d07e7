"""Raw CRM records -> canonical deals, through a mapping's ``[deals]`` part (no I/O).

Values convert as account fields do (``crmseg.normalize``): a blank value is *missing*, one
that does not convert ("n/a" as an amount) is *invalid*; an optional field's missing or
invalid value is left out (None) and counted per field (``quality``). A deal cannot exist
without its id, ``created_at`` and status, so a missing or invalid one refuses the record:
:class:`BadDeal`, naming the raw key — the caller treats it like a row without an id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmseg.config import DEAL_FIELDS, DealsMapping, FieldMap
from crmseg.dates import INVALID
from crmseg.deals.model import Deal, DealStatus, FlagError, parse_status, status_from_flags
from crmseg.model import RawRecord
from crmseg.normalize.normalizer import make_converter

__all__ = ["BadDeal", "DealNormalizer"]

_UPPER = ("currency",)  # ISO 4217 codes: "usd" is "USD"


class BadDeal(ValueError):
    """A record that cannot be a deal: ``key`` (the raw record's field) is missing or invalid."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key!r}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True, slots=True)
class _Plan:
    name: str
    key: str
    convert: Callable[[Any], Any]
    index: int


class DealNormalizer:
    """Turns raw records into :class:`Deal` for one ``[deals]`` mapping and counts data quality.

    ``multi_currency``: read ``amount`` from its ``home_source`` (the CRM has several
    currencies; the connector detects it)."""

    def __init__(self, mapping: DealsMapping, *, multi_currency: bool = False) -> None:
        self.mapping = mapping
        types = mapping.field_types()
        plans: list[_Plan] = []
        self.multi_currency = multi_currency
        named = [(name, fm) for name, fm in mapping.fields.items() if name != "id"]  # the id is ``raw.id``
        for i, (name, fm) in enumerate(named):
            key = fm.home_source if multi_currency and fm.home_source else mapping.source_of(name)
            convert = make_converter(name, FieldMap(type=types[name], normalize="upper" if name in _UPPER else None))
            plans.append(_Plan(name, key, convert, i))
        self._plans = plans
        self._missing = [0] * len(plans)
        self._invalid = [0] * len(plans)
        status = mapping.status
        self._status: Callable[[RawRecord], DealStatus]
        if status.source is not None:
            key = status.source
            self._status = lambda raw: _status_of(parse_status, key, raw.fields.get(key))
        else:
            closed, won = status.closed or "", status.won or ""  # both set: DealStatusMap checks it
            self._status = lambda raw: _flags_of(raw, closed, won)

    def read_fields(self) -> list[str]:
        """The CRM fields a read must ask for (associations are read apart)."""
        return self.mapping.read_fields(multi_currency=self.multi_currency)

    @property
    def quality(self) -> dict[str, dict[str, int]]:
        """Per mapped field: how many values were missing and how many invalid (kept deals only)."""
        return {p.name: {"missing": self._missing[p.index], "invalid": self._invalid[p.index]} for p in self._plans}

    def deal(self, raw: RawRecord) -> Deal:
        """The deal of one raw record (its id is ``raw.id``); :class:`BadDeal` when it cannot be one."""
        status = self._status(raw)
        values: dict[str, Any] = {}
        missing: list[int] = []
        invalid: list[int] = []
        get = raw.fields.get
        for p in self._plans:
            v = get(p.key)
            if v is None:
                missing.append(p.index)
                continue
            try:
                out = p.convert(v)
            except INVALID as exc:
                if p.name == "created_at":
                    raise BadDeal(p.key, f"not a datetime: {v!r} ({exc})") from None
                invalid.append(p.index)
                continue
            if out is None:
                missing.append(p.index)
            else:
                values[p.name] = out
        if "created_at" not in values:
            raise BadDeal(self.mapping.source_of("created_at"), "no value (a deal needs its created time)")
        for i in missing:
            self._missing[i] += 1
        for i in invalid:
            self._invalid[i] += 1
        extra = {k: v for k, v in values.items() if k not in DEAL_FIELDS}
        return Deal(
            id=raw.id,
            created_at=values["created_at"],
            status=status,
            account_id=values.get("account_id"),
            amount=values.get("amount"),
            currency=values.get("currency"),
            closed_at=values.get("closed_at"),
            stage=values.get("stage"),
            pipeline=values.get("pipeline"),
            type=values.get("type"),
            extra=extra,
        )


def _status_of(parse: Callable[[Any], DealStatus], key: str, value: Any) -> DealStatus:
    try:
        return parse(value)
    except ValueError as exc:
        raise BadDeal(key, str(exc)) from None


def _flags_of(raw: RawRecord, closed: str, won: str) -> DealStatus:
    get = raw.fields.get
    try:
        return status_from_flags(get(closed), get(won))
    except FlagError as exc:
        raise BadDeal(closed if exc.flag == "closed" else won, exc.problem) from None
