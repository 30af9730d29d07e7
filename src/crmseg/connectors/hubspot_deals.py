"""HubSpot deals: the ``[deals]`` mapping read through the connector's list, search and v4 association calls.

- A full read lists ``/crm/v3/objects/deals`` (100 a page) with ``associations=companies``:
  the companies come inline, no other call. Archived deals are not listed, so the state can
  drop the deals a full read leaves out.
- An incremental read searches ``hs_lastmodifieddate`` (200 a page, through the connector's
  search, which reads each deal once past the 10,000-result cap); search results carry no
  associations, so every 1,000 deals found cost one v4 batch read of their companies.
- The account: the deal's one company, or the primary one (type id 5 in v4, ``deal_to_company``
  inline) when it has several; several without a primary is ambiguous and reads as no account.
  Its id goes under the mapping's association key (``association = "companies"``).
- Multi-currency is detected, never configured: the account-info answer lists the portal's
  ``additionalCurrencies`` (one call, shared with the portal's identity); then the normalizer
  reads ``amount_in_home_currency`` (the mapping's ``home_source``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any, Protocol

from crmseg.config import DealsMapping
from crmseg.connectors.hubspot_values import check_prop, to_ms
from crmseg.errors import ConfigError
from crmseg.model import RawRecord

__all__ = ["ASSOCIATION_BATCH", "PRIMARY_TYPE_ID", "HubSpotDeals", "HubSpotSource", "primary_company"]

#: v4 association type id of a deal's primary company (HUBSPOT_DEFINED); unlabeled links are 341.
PRIMARY_TYPE_ID = 5
#: The v3 inline association type of the primary company.
PRIMARY_INLINE = "deal_to_company"
#: Deals per v4 association batch read (HubSpot's maximum).
ASSOCIATION_BATCH = 1_000
DEFAULT_OBJECT = "deals"
DEFAULT_MODIFIED = "hs_lastmodifieddate"


class HubSpotSource(Protocol):
    """What the deal read needs of the HubSpot connector (it passes itself)."""

    def list_objects(
        self, object_type: str, props: Sequence[str], associations: Sequence[str] = ()
    ) -> Iterator[dict[str, Any]]: ...

    def search_objects(
        self, object_type: str, props: Sequence[str], modified_field: str, since_ms: int
    ) -> Iterator[dict[str, Any]]: ...

    def association_batch(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, Any]: ...

    def account_info(self) -> dict[str, Any]: ...


def primary_company(links: Iterable[tuple[str, bool]]) -> str | None:
    """The account of a deal from its company links ``(company id, is primary)``: the only company,
    else the primary one, else None (no company, or several and none primary)."""
    ids: dict[str, bool] = {}
    for cid, primary in links:
        ids[cid] = ids.get(cid, False) or primary
    if len(ids) == 1:
        return next(iter(ids))
    primaries = [cid for cid, primary in ids.items() if primary]
    return primaries[0] if len(primaries) == 1 else None


class HubSpotDeals:
    """:class:`~crmseg.connectors.base.DealReads` for one portal (see the module).

    Calls count under ``deal_list``, ``deal_search`` and ``deal_associations``."""

    def __init__(self, source: HubSpotSource, mapping: DealsMapping) -> None:
        self.source = source
        self.mapping = mapping
        self.object = (mapping.object or DEFAULT_OBJECT).lower()
        if self.object != DEFAULT_OBJECT:
            raise ConfigError(f"hubspot [deals] object {mapping.object!r} is not supported (allowed: 'deals')")
        self.modified_field = mapping.modified_field or DEFAULT_MODIFIED
        account = mapping.fields.get("account_id")
        self.association = account.association if account is not None else None
        if self.association not in (None, "companies"):
            raise ConfigError(
                f"hubspot [deals.fields.account_id] association {self.association!r} is not supported "
                "(allowed: 'companies')"
            )

    @property
    def multi_currency(self) -> bool:
        """Whether the portal has currencies besides its company currency (account-info, one call)."""
        return bool(self.source.account_info().get("additionalCurrencies"))

    def read_deals(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]:
        """Every live deal (``since`` None), or those modified at or after ``since``; see the module."""
        wanted = [f for f in fields if f != self.association]
        props = list(dict.fromkeys([check_prop(f) for f in wanted] + [check_prop(self.modified_field)]))
        assoc = self.association
        if since is None:
            for obj in self.source.list_objects(self.object, props, [assoc] if assoc else ()):
                yield self._raw(obj, wanted, _inline_company(obj, assoc) if assoc else None)
            return
        found = self.source.search_objects(self.object, props, self.modified_field, to_ms(since) or 0)
        while batch := list(islice(found, ASSOCIATION_BATCH)):
            companies = self._companies([str(o["id"]) for o in batch]) if assoc else {}
            for obj in batch:
                yield self._raw(obj, wanted, companies.get(str(obj["id"])))

    def _companies(self, ids: list[str]) -> dict[str, str]:
        """Deal id -> its account, from one v4 batch read (deals without a company are left out)."""
        assert self.association is not None
        body = self.source.association_batch(self.object, self.association, ids)
        out: dict[str, str] = {}
        for row in body.get("results") or []:
            links = [
                (str(t["toObjectId"]), any(a.get("typeId") == PRIMARY_TYPE_ID for a in t.get("associationTypes") or []))
                for t in row.get("to") or []
            ]
            company = primary_company(links)
            if company is not None:
                out[str((row.get("from") or {}).get("id"))] = company
        return out

    def _raw(self, obj: dict[str, Any], fields: Sequence[str], company: str | None) -> RawRecord:
        props = dict(obj.get("properties") or {})
        for name in fields:
            props.setdefault(name, None)
        if self.association:
            props[self.association] = company
        return RawRecord(id=str(obj["id"]), fields=props)


def _inline_company(obj: dict[str, Any], assoc: str) -> str | None:
    """The account among a listed deal's inline links (``associations.companies.results``)."""
    results = ((obj.get("associations") or {}).get(assoc) or {}).get("results") or []
    return primary_company((str(r["id"]), r.get("type") == PRIMARY_INLINE) for r in results)
