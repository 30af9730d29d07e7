"""HubSpot CRM objects in the HubSpot sandbox: the object types served (companies, and deals when
seeded) and a stored record as HubSpot renders it, which reads, searches and writes all answer.

A SimplePublicObject carries ``id``, ``properties`` (the requested ones that exist, plus
``createdate``, ``hs_lastmodifieddate`` and ``hs_object_id``; every value a string or null),
``createdAt``, ``updatedAt`` and ``archived`` (``archivedAt`` when archived). Without
``properties`` a read gets the type's defaults. Deals read with ``associations=companies`` carry
their companies inline: ``deal_to_company`` for the primary one, ``deal_to_company_unlabeled``
for every one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmseg.sandbox.base import BaseApp
from crmseg.sandbox.deal_setup import HS_COMPANIES_KEY
from crmseg.sandbox.schema import FieldDef, hubspot_deal_schema
from crmseg.sandbox.store import Record, Store
from crmseg.sandbox.values import hs_datetime, hs_text

ALWAYS = ("createdate", "hs_lastmodifieddate", "hs_object_id")
DEFAULT_PROPS = ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name")
DEAL_DEFAULT_PROPS = (
    "amount",
    "closedate",
    "createdate",
    "dealname",
    "dealstage",
    "hs_lastmodifieddate",
    "hs_object_id",
    "pipeline",
)


class HsType:
    """One object type the app serves: its records, properties and names."""

    def __init__(
        self,
        name: str,
        label: str,
        store: Store,
        schema: Callable[[], dict[str, FieldDef]],
        default_props: tuple[str, ...],
        text_props: tuple[str, ...],
    ) -> None:
        self.name, self.label, self.store = name, label, store
        self._schema = schema
        self.default_props, self.text_props = default_props, text_props

    @property
    def schema(self) -> dict[str, FieldDef]:
        """The current properties (companies' change as properties are created)."""
        return self._schema()


class HubSpotObjects(BaseApp):
    """The HubSpot app's object types and its rendering of their records."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.companies = HsType(
            "companies", "COMPANY", self.store, lambda: self.schema, DEFAULT_PROPS, ("name", "domain")
        )
        self.deal_type: HsType | None = None

    def attach_deals(self, store: Store) -> None:
        """Serve deals from ``store``: list, search, v4 company associations, pipelines, properties."""
        super().attach_deals(store)
        schema = hubspot_deal_schema()
        self.deal_type = HsType("deals", "DEAL", store, lambda: schema, DEAL_DEFAULT_PROPS, ("dealname",))

    # ------------------------------------------------------------ rendering
    def value(self, rec: Record, fd: FieldDef) -> str | None:
        """A property's value as HubSpot returns it (a string or null)."""
        if fd.system == "id":
            return rec.id
        if fd.system == "created":
            return hs_datetime(rec.created_ms)
        if fd.system == "modified":
            return hs_datetime(rec.modified_ms)
        return hs_text(fd.kind, rec.data.get(fd.name))

    def render(self, rec: Record, names: list[str], obj: HsType | None = None) -> dict[str, Any]:
        """A SimplePublicObject for ``rec`` with the requested properties (unknown names are ignored)."""
        schema = (obj or self.companies).schema
        wanted = list(dict.fromkeys([*names, *ALWAYS]))
        properties = {n: self.value(rec, schema[n]) for n in wanted if n in schema}
        out = {
            "id": rec.id,
            "properties": properties,
            "createdAt": hs_datetime(rec.created_ms),
            "updatedAt": hs_datetime(rec.modified_ms),
            "archived": rec.deleted,
        }
        if rec.deleted:
            out["archivedAt"] = hs_datetime(rec.modified_ms)
        return out

    def requested(self, raw: list[str] | None, obj: HsType | None = None) -> list[str]:
        """Property names from repeated and/or comma-separated ``properties`` values."""
        if not raw:
            return list((obj or self.companies).default_props)
        return [p.strip() for item in raw for p in str(item).split(",") if p.strip()]

    def with_companies(self, out: dict[str, Any], rec: Record) -> dict[str, Any]:
        """Add a deal's companies the way v3 reads give associations inline (nothing when none)."""
        results = []
        for cid, primary in rec.data.get(HS_COMPANIES_KEY) or []:
            if primary:
                results.append({"id": str(cid), "type": "deal_to_company"})
            results.append({"id": str(cid), "type": "deal_to_company_unlabeled"})
        if results:
            out["associations"] = {"companies": {"results": results}}
        return out
