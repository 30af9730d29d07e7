"""Zoho CRM deals: the ``[deals]`` mapping read from the Deals module through the connector's walk.

- A read is the accounts' read on ``Deals`` (:meth:`~crmseg.connectors.zoho.ZohoConnector.records`:
  sorted by ``Modified_Time``, ``page`` then ``page_token``, ``If-Modified-Since`` for an
  incremental read, calls counted under ``deal_query``). Deleted deals are in the recycle bin,
  not in the list, so a full read holds every live deal and the state can drop the rest.
- The account: ``Account_Name`` is a lookup (``{"name", "id"}``), read as the account's id.
- Status: a mapping names it ``[deals.status] source = "Stage.forecast_type"``: the connector
  reads ``Stage`` and gives the ``forecast_type`` its value has in the Stage pick list's
  metadata (``Open``, ``Closed Won``, ``Closed Lost``) as open, won or lost — never the label's
  text (``Closed Lost to Competition`` is lost because its metadata says so). The metadata is
  ``GET /settings/fields?module=Deals``, one call, cached. A stage value the metadata does not
  list, or lists without a forecast type, reads as no status (the deal is refused and counted).
- Currency: an org with several currencies (``mc_status`` of ``GET /org``, one call shared with
  the identity) gives each deal ``Currency`` and ``Exchange_Rate`` (units of the deal's currency
  per unit of the home currency); ``home_source = "Amount.home"`` reads ``Amount /
  Exchange_Rate``, the amount in the home currency. A single-currency org has no ``Currency``
  field: it reads as missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from crmseg.config import DealsMapping
from crmseg.errors import ConfigError
from crmseg.model import RawRecord, SchemaField

__all__ = ["FORECAST", "HOME", "ZohoDeals", "ZohoModules"]

MODULE = "Deals"
DEFAULT_MODIFIED = "Modified_Time"
#: A status key ``<pick list>.forecast_type``: the value's forecast type from the field's metadata.
FORECAST = ".forecast_type"
#: A key ``<amount>.home``: the amount divided by the deal's ``Exchange_Rate`` (the home currency).
HOME = ".home"
RATE = "Exchange_Rate"
#: Fields only a multi-currency org has: in a single-currency org they read as missing.
CURRENCY_FIELDS = frozenset({"Currency", RATE})
_STATUS = {"open": "open", "closed won": "won", "closed lost": "lost"}


class ZohoModules(Protocol):
    """What the deal read needs of the Zoho connector (it passes itself)."""

    def records(
        self, module: str, columns: Sequence[str], since: datetime | None, kind: str
    ) -> Iterator[dict[str, Any]]: ...

    def fields_of(self, module: str, kind: str) -> dict[str, SchemaField]: ...

    def org(self) -> dict[str, Any]: ...


class ZohoDeals:
    """:class:`~crmseg.connectors.base.DealReads` for one org's Deals (see the module).

    Calls count under ``deal_schema`` (once), ``identity`` (the org, once, shared) and ``deal_query``."""

    def __init__(self, source: ZohoModules, mapping: DealsMapping) -> None:
        if (mapping.object or MODULE).lower() != MODULE.lower():
            raise ConfigError(f"zoho [deals]: object {mapping.object!r} is not supported (allowed: 'Deals')")
        self.source = source
        self.mapping = mapping
        self.modified_field = mapping.modified_field or DEFAULT_MODIFIED
        self._schema: dict[str, SchemaField] | None = None

    @property
    def multi_currency(self) -> bool:
        """Whether the org keeps several currencies (``mc_status``)."""
        return bool(self.source.org().get("mc_status"))

    def schema(self) -> dict[str, SchemaField]:
        """The Deals fields with their pick lists' metadata (one call, cached)."""
        if self._schema is None:
            self._schema = self.source.fields_of(MODULE, "deal_schema")
        return self._schema

    def read_deals(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]:
        """Every live deal (``since`` None), or those modified at or after ``since``; see the module."""
        schema = self.schema()
        columns: list[str] = []
        for name in fields:
            base = _base(name)
            if base == "id" or (base in CURRENCY_FIELDS and base not in schema):
                continue
            if base not in schema:
                raise ConfigError(f"zoho [deals]: field {base} not found on {MODULE} (check the mapping's [deals])")
            columns.append(base)
            if name.endswith(HOME):
                if RATE not in schema:
                    raise ConfigError(f"zoho [deals]: {name} needs {RATE}, which {MODULE} lacks")
                columns.append(RATE)
        columns = list(dict.fromkeys([*columns, self.modified_field, "Modified_Time"]))
        forecasts = {name: _forecast_types(schema[_base(name)]) for name in fields if name.endswith(FORECAST)}
        for row in self.source.records(MODULE, columns, since, "deal_query"):
            rid = str(row["id"])
            out: dict[str, Any] = {}
            for name in fields:
                if name == "id":
                    out[name] = rid
                elif name in forecasts:
                    out[name] = forecasts[name].get(str(row.get(_base(name))))
                elif name.endswith(HOME):
                    out[name] = _home(row.get(_base(name)), row.get(RATE))
                else:
                    value = row.get(name)
                    out[name] = str(value["id"]) if isinstance(value, dict) and value.get("id") else value
            yield RawRecord(id=rid, fields=out)


def _base(name: str) -> str:
    for suffix in (FORECAST, HOME):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _forecast_types(f: SchemaField) -> dict[str, str]:
    """A pick list's value -> open/won/lost, from each value's ``forecast_type``."""
    out: dict[str, str] = {}
    for value, meta in (f.extra.get("pick_list_meta") or {}).items():
        status = _STATUS.get(str(meta.get("forecast_type") or "").strip().lower())
        if status is not None:
            out[str(value)] = status
    return out


def _home(amount: Any, rate: Any) -> float | None:
    try:
        value, per = float(amount), float(rate)
    except (TypeError, ValueError):
        return None
    return round(value / per, 2) if per > 0 else None
