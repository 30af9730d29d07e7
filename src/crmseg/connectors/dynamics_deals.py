"""Dynamics 365 opportunities as deals: the ``[deals]`` mapping read through the Dataverse Web API.

- A read is ``GET /opportunities?$select=...`` paged like the account read (the connector's
  :meth:`~crmseg.connectors.dynamics.DynamicsConnector.rows`: ``odata.maxpagesize``,
  ``@odata.nextLink``, retries, call counting under ``deal_query``). Deleted rows are not
  returned, so a full read holds every live opportunity and the state can drop the rest; an
  incremental read filters ``modifiedon ge <since>`` (whole seconds), like the account read.
- Status: ``statecode`` is a State column whose values Microsoft fixes (0 Open, 1 Won,
  2 Lost); it is read as ``open``/``won``/``lost`` from the integer, not from its label (labels
  follow the user's language).
- Account (``association`` on ``account_id``): the parent account lookup
  (``_parentaccountid_value``), else the customer lookup (``_customerid_value``) when it points
  to an account (its ``Microsoft.Dynamics.CRM.lookuplogicalname`` annotation), else none.
- Currency: every money column has a ``_base`` twin in the organization's base currency.
  Multi-currency is detected from the organization's ``transactioncurrencies`` (more than one
  row; one call, cached), and then the normalizer reads the mapping's ``home_source``
  (``estimatedvalue_base``). The same call resolves the ``_transactioncurrencyid_value`` lookup
  to the currency's ISO code, so ``currency`` reads ``EUR``, not a GUID.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from crmseg.config import DealsMapping
from crmseg.errors import ConfigError
from crmseg.model import RawRecord

__all__ = ["CURRENCY_LOOKUP", "STATES", "DataverseRows", "DynamicsDeals"]

DEFAULT_OBJECT = "opportunity"
DEFAULT_MODIFIED = "modifiedon"
PARENT = "_parentaccountid_value"
CUSTOMER = "_customerid_value"
#: The lookup to the row's currency, read as its ISO code.
CURRENCY_LOOKUP = "_transactioncurrencyid_value"
LOOKUP_TABLE = "Microsoft.Dynamics.CRM.lookuplogicalname"
#: opportunity.statecode, fixed by Microsoft: 0 Open, 1 Won, 2 Lost.
STATES = {0: "open", 1: "won", 2: "lost"}
_ENTITY_SETS = {"opportunity": "opportunities", "opportunities": "opportunities"}


class DataverseRows(Protocol):
    """What the deal read needs of the Dynamics connector (it passes itself)."""

    base: str
    page_size: int

    def rows(self, url: str, kind: str, annotations: str | None = None) -> Iterator[dict[str, Any]]: ...


class DynamicsDeals:
    """:class:`~crmseg.connectors.base.DealReads` for one environment's opportunities.

    Calls count under ``deal_currencies`` (once) and ``deal_query`` (one per page)."""

    def __init__(self, source: DataverseRows, mapping: DealsMapping) -> None:
        self.source = source
        self.mapping = mapping
        entity = (mapping.object or DEFAULT_OBJECT).lower()
        if entity not in _ENTITY_SETS:
            raise ConfigError(f"dynamics [deals]: object {mapping.object!r} is not supported (allowed: 'opportunity')")
        self.entity_set = _ENTITY_SETS[entity]
        self.modified_field = mapping.modified_field or DEFAULT_MODIFIED
        account = mapping.fields.get("account_id")
        self.account_key = account.key if account is not None and account.association else None
        self.status_key = mapping.status.source
        self._currencies: dict[str, str] | None = None

    def currencies(self) -> dict[str, str]:
        """transactioncurrency id (lower case) -> ISO code (one call, cached)."""
        if self._currencies is None:
            url = f"{self.source.base}/transactioncurrencies?$select=isocurrencycode"
            self._currencies = {
                str(r.get("transactioncurrencyid", "")).lower(): str(r.get("isocurrencycode") or "")
                for r in self.source.rows(url, "deal_currencies")
            }
        return self._currencies

    @property
    def multi_currency(self) -> bool:
        """Whether the organization has more than one currency."""
        return len(self.currencies()) > 1

    def read_deals(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]:
        """Every live opportunity (``since`` None), or those modified at or after ``since``; see the module."""
        wanted = [f for f in fields if f not in ("id", "opportunityid", self.account_key)]
        extra = [PARENT, CUSTOMER] if self.account_key else []
        columns = list(dict.fromkeys([*wanted, *extra, self.modified_field, "opportunityid"]))
        url = f"{self.source.base}/{self.entity_set}?$select={','.join(columns)}"
        if since is not None:
            when = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
            url += f"&$filter={quote(f'{self.modified_field} ge {when:%Y-%m-%dT%H:%M:%SZ}', safe='')}"
        currencies = self.currencies() if CURRENCY_LOOKUP in wanted else {}
        for row in self.source.rows(url, "deal_query", LOOKUP_TABLE if self.account_key else None):
            rid = str(row["opportunityid"])
            out: dict[str, Any] = {}
            for name in fields:
                value = row.get(name)
                if name in ("id", "opportunityid"):
                    value = rid
                elif name == self.status_key and name == "statecode" and value is not None:
                    value = STATES.get(int(value), str(value))
                elif name == CURRENCY_LOOKUP and value is not None:
                    value = currencies.get(str(value).lower())
                out[name] = value
            if self.account_key:  # associations are not among the read fields
                out[self.account_key] = account_of(row)
            yield RawRecord(id=rid, fields=out)


def account_of(row: dict[str, Any]) -> str | None:
    """The opportunity's account: the parent account, else the customer when it is an account."""
    parent = row.get(PARENT)
    if parent:
        return str(parent)
    customer = row.get(CUSTOMER)
    if customer and row.get(f"{CUSTOMER}@{LOOKUP_TABLE}") == "account":
        return str(customer)
    return None
