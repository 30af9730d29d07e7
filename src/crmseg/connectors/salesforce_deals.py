"""Salesforce Opportunities as deals: the ``[deals]`` mapping read through the connector's SOQL query.

One query per read, through :meth:`SalesforceConnector.query_records` (the account read's
paging, keyset resume, retries and call counting): ``query`` leaves deleted Opportunities
out, so a full read holds every live deal and the state can drop the rest; an incremental
read takes ``SystemModstamp >= since`` (floored to the second) like the account read, and
the connector's ``server_time`` is where the deals watermark starts.

Multi-currency is detected, never configured: the Opportunity describe lists
``CurrencyIsoCode`` only in a multi-currency org. There the amount is selected as
``convertCurrency(Amount)``, which Salesforce answers under the field's own name (the
corporate currency; dated rates when advanced currency management is on), so the normalizer
reads the mapping's ``source`` key either way. A mapping that names a ``home_source`` (a field
already holding the home-currency amount) reads that field as it is instead. In a
single-currency org ``CurrencyIsoCode`` does not exist and reads as missing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from crmseg.config import DealsMapping
from crmseg.model import RawRecord

__all__ = ["CURRENCY_FIELD", "SalesforceDeals", "SoqlSource"]

#: The Opportunity field only multi-currency orgs have.
CURRENCY_FIELD = "CurrencyIsoCode"
DEFAULT_OBJECT = "Opportunity"
DEFAULT_MODIFIED = "SystemModstamp"


class SoqlSource(Protocol):
    """What the deal read needs of the Salesforce connector (it passes itself)."""

    def describe(self, obj: str, kind: str = "describe") -> dict[str, Any]: ...

    def query_records(
        self,
        obj: str,
        fields: Sequence[str],
        order_field: str,
        since: datetime | None = None,
        *,
        kind: str = "query",
        convert: Collection[str] = (),
        optional: Collection[str] = (),
    ) -> Iterator[RawRecord]: ...


class SalesforceDeals:
    """:class:`~crmseg.connectors.base.DealReads` for one org: Opportunities (or the mapping's object).

    Calls count under ``deal_describe`` (once) and ``deal_query`` (one per page)."""

    def __init__(self, source: SoqlSource, mapping: DealsMapping) -> None:
        self.source = source
        self.mapping = mapping
        self.object = mapping.object or DEFAULT_OBJECT
        self.modified_field = mapping.modified_field or DEFAULT_MODIFIED

    @property
    def multi_currency(self) -> bool:
        """Whether the object has ``CurrencyIsoCode`` (one describe call, cached by the connector)."""
        names = {str(f.get("name", "")).lower() for f in self.source.describe(self.object, "deal_describe")["fields"]}
        return CURRENCY_FIELD.lower() in names

    def read_deals(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]:
        """Every live deal (``since`` None), or those modified at or after ``since``; see the module."""
        amount = self.mapping.fields.get("amount")
        convert: tuple[str, ...] = ()
        multi = self.multi_currency
        if multi and amount is not None and amount.home_source is None:
            convert = (self.mapping.source_of("amount"),)
        optional = () if multi else (CURRENCY_FIELD,)
        yield from self.source.query_records(
            self.object, fields, self.modified_field, since, kind="deal_query", convert=convert, optional=optional
        )
