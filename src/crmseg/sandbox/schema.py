"""The sandbox object schema, built from a mapping and (optionally) a rules directory.

Every CRM field the mapping names exists, typed from the mapping's canonical type;
tag fields of the mapping (``[tags]`` and, for dimensions found in the rules,
``tag_field_pattern``) exist too: restricted picklists / enumerations holding the
dimension's values when rules are given, plain text otherwise, numbers for score
dimensions. System fields (id, created, modified) are computed from the store row.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crmseg.config import Mapping
from crmseg.errors import ConfigError
from crmseg.sandbox.deal_setup import CURRENCY_RATES, HS_PIPELINE, HS_STAGES, HS_TYPES, SF_FORECAST, SF_STAGES, SF_TYPES


@dataclass(slots=True)
class FieldDef:
    """One field of the sandbox object (CRM-neutral kind, see ``values``)."""

    name: str
    kind: str
    label: str
    updateable: bool = True
    options: list[str] | None = None
    restricted: bool = False
    system: str | None = None  # "id" | "created" | "modified" | "deleted": computed from the store row
    custom: bool = False
    length: int = 255
    group: str = "companyinformation"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dimension:
    """What the sandbox needs to know of a rules file: its kind and possible values."""

    name: str
    kind: str  # "label" | "score"
    values: tuple[str, ...] = ()


def load_dimensions(rules_dir: str | Path | None) -> dict[str, Dimension]:
    """Dimensions of ``rules_dir/*.toml`` with their label values (allow-list, rule values, default)."""
    if rules_dir is None:
        return {}
    root = Path(rules_dir)
    if not root.is_dir():
        raise ConfigError(f"{root}: rules directory not found")
    dims: dict[str, Dimension] = {}
    for path in sorted(root.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read rules file: {exc}") from None
        name = str(data.get("dimension") or path.stem)
        kind = str(data.get("kind") or "label")
        values: list[str] = []
        if kind == "label":
            candidates = list(data.get("values") or [])
            candidates += [r.get("value") for r in data.get("rule") or [] if isinstance(r, dict)]
            candidates.append(data.get("default"))
            for v in candidates:
                if v is not None and str(v) not in values:
                    values.append(str(v))
        dims[name] = Dimension(name=name, kind=kind, values=tuple(values))
    return dims


_SF_STANDARD: dict[str, FieldDef] = {
    "Id": FieldDef("Id", "id", "Account ID", updateable=False, system="id", length=18),
    "IsDeleted": FieldDef("IsDeleted", "boolean", "Deleted", updateable=False),
    "Name": FieldDef("Name", "string", "Account Name"),
    "CreatedDate": FieldDef("CreatedDate", "datetime", "Created Date", updateable=False, system="created"),
    "LastModifiedDate": FieldDef(
        "LastModifiedDate", "datetime", "Last Modified Date", updateable=False, system="modified"
    ),
    "SystemModstamp": FieldDef("SystemModstamp", "datetime", "System Modstamp", updateable=False, system="modified"),
    "OwnerId": FieldDef("OwnerId", "reference", "Owner ID", length=18),
    "Website": FieldDef("Website", "url", "Website"),
    "Industry": FieldDef("Industry", "picklist", "Industry", options=[]),
    "Type": FieldDef("Type", "picklist", "Account Type", options=[]),
    "NumberOfEmployees": FieldDef("NumberOfEmployees", "int", "Employees"),
    "AnnualRevenue": FieldDef("AnnualRevenue", "currency", "Annual Revenue"),
    "BillingCountry": FieldDef("BillingCountry", "string", "Billing Country", length=80),
    "BillingState": FieldDef("BillingState", "string", "Billing State/Province", length=80),
    "BillingCity": FieldDef("BillingCity", "string", "Billing City", length=40),
    "LastActivityDate": FieldDef("LastActivityDate", "date", "Last Activity", updateable=False),
}

_HS_STANDARD: dict[str, FieldDef] = {
    "hs_object_id": FieldDef("hs_object_id", "id", "Record ID", updateable=False, system="id"),
    "createdate": FieldDef("createdate", "datetime", "Create Date", updateable=False, system="created"),
    "hs_lastmodifieddate": FieldDef(
        "hs_lastmodifieddate", "datetime", "Last Modified Date", updateable=False, system="modified"
    ),
    "name": FieldDef("name", "string", "Company name"),
    "domain": FieldDef("domain", "string", "Company Domain Name"),
}

_SF_KIND = {
    "str": "string",
    "int": "double",
    "float": "double",
    "bool": "boolean",
    "date": "date",
    "datetime": "datetime",
    "list": "multipicklist",
}
_HS_KIND = {
    "str": "string",
    "int": "double",
    "float": "double",
    "bool": "boolean",
    "date": "date",
    "datetime": "datetime",
    "list": "multipicklist",
}


def _label(name: str) -> str:
    base = name.removesuffix("__c").replace("_", " ").strip()
    return base[:1].upper() + base[1:]


def tag_fields(mapping: Mapping, dims: dict[str, Dimension]) -> dict[str, str]:
    """Dimension -> CRM tag field, for the mapping's tags and the rules' dimensions."""
    out = dict(mapping.tags)
    for name in dims:
        target = mapping.tag_field(name)
        if target:
            out[name] = target
    return out


def build_schema(
    crm: str, mapping: Mapping, dims: dict[str, Dimension], create_tags: bool = True
) -> dict[str, FieldDef]:
    """All fields of the sandbox object for ``crm`` ("salesforce" or "hubspot").

    ``create_tags=False`` leaves out the tag and pin fields (to test provisioning them).
    """
    sf = crm == "salesforce"
    std = _SF_STANDARD if sf else _HS_STANDARD
    kinds = _SF_KIND if sf else _HS_KIND
    schema: dict[str, FieldDef] = {}
    for name, fd in std.items():
        opts = list(fd.options) if fd.options is not None else None
        schema[name] = replace(fd, options=opts, extra=dict(fd.extra))
    for canonical, fm in mapping.fields.items():
        src = fm.source or canonical
        if src in schema:
            continue
        schema[src] = FieldDef(
            src,
            kinds[fm.type],
            _label(src),
            custom=not sf or src.endswith("__c"),
            options=[] if fm.type == "list" else None,
            restricted=False,
        )
        if fm.type == "int" and sf and not src.endswith("__c"):
            schema[src].kind = "int"
    if not create_tags:
        return schema
    for dim, target in tag_fields(mapping, dims).items():
        d = dims.get(dim)
        if d is not None and d.kind == "score":
            fd = FieldDef(target, "double", _label(target), custom=True, group="crmseg")
        elif d is not None and d.values:
            fd = FieldDef(
                target, "picklist", _label(target), options=list(d.values), restricted=True, custom=True, group="crmseg"
            )
        else:
            fd = FieldDef(target, "string", _label(target), custom=True, group="crmseg")
        fd.extra["dimension"] = dim
        schema[target] = fd
    if mapping.pin_field and mapping.pin_field not in schema:
        schema[mapping.pin_field] = FieldDef(
            mapping.pin_field, "boolean", _label(mapping.pin_field), custom=True, group="crmseg"
        )
    return schema


def lookup(schema: dict[str, FieldDef], name: str) -> FieldDef | None:
    """Case-insensitive field lookup (Salesforce field names are case-insensitive)."""
    fd = schema.get(name)
    if fd is not None:
        return fd
    low = name.lower()
    for key, val in schema.items():
        if key.lower() == low:
            return val
    return None


def learn_options(schema: dict[str, FieldDef], data: dict[str, Any]) -> None:
    """Add values seen in seed data to unrestricted picklists (so describe lists them)."""
    from crmseg.sandbox.values import split_multi

    for name, value in data.items():
        fd = schema.get(name)
        if fd is None or fd.options is None or fd.restricted or value in (None, ""):
            continue
        items = split_multi(value) if fd.kind == "multipicklist" else [str(value)]
        for item in items:
            if item not in fd.options:
                fd.options.append(item)


# ------------------------------------------------------------------ deals
def opportunity_schema(multi_currency: bool) -> dict[str, FieldDef]:
    """Salesforce ``Opportunity`` fields the sandbox serves (``CurrencyIsoCode`` only in multi-currency orgs)."""
    fields = [
        FieldDef("Id", "id", "Opportunity ID", updateable=False, system="id", length=18),
        FieldDef("IsDeleted", "boolean", "Deleted", updateable=False, system="deleted"),
        FieldDef("Name", "string", "Name", length=120),
        FieldDef("AccountId", "reference", "Account ID", length=18),
        FieldDef("Amount", "currency", "Amount"),
        FieldDef("CloseDate", "date", "Close Date"),
        FieldDef("CreatedDate", "datetime", "Created Date", updateable=False, system="created"),
        FieldDef("LastModifiedDate", "datetime", "Last Modified Date", updateable=False, system="modified"),
        FieldDef("SystemModstamp", "datetime", "System Modstamp", updateable=False, system="modified"),
        FieldDef("IsClosed", "boolean", "Closed", updateable=False),
        FieldDef("IsWon", "boolean", "Won", updateable=False),
        FieldDef("StageName", "picklist", "Stage", options=[s[0] for s in SF_STAGES], restricted=True),
        FieldDef("Probability", "percent", "Probability (%)"),
        FieldDef("Type", "picklist", "Opportunity Type", options=list(SF_TYPES)),
        FieldDef("ForecastCategory", "picklist", "Forecast Category", updateable=False, options=list(SF_FORECAST)),
    ]
    if multi_currency:
        fields.append(
            FieldDef("CurrencyIsoCode", "picklist", "Opportunity Currency", options=list(CURRENCY_RATES), length=3)
        )
    return {fd.name: fd for fd in fields}


def hubspot_deal_schema() -> dict[str, FieldDef]:
    """HubSpot deal properties the sandbox serves (every portal has the currency properties;
    ``deal_currency_code`` varies only in multi-currency portals)."""
    g = "dealinformation"
    fields = [
        FieldDef("hs_object_id", "id", "Record ID", updateable=False, system="id", group=g),
        FieldDef("createdate", "datetime", "Create Date", updateable=False, system="created", group=g),
        FieldDef("hs_lastmodifieddate", "datetime", "Last Modified Date", updateable=False, system="modified", group=g),
        FieldDef("dealname", "string", "Deal Name", group=g),
        FieldDef("amount", "double", "Amount", group=g),
        FieldDef("closedate", "datetime", "Close Date", group=g),
        FieldDef("dealstage", "picklist", "Deal Stage", options=[s[0] for s in HS_STAGES], restricted=True, group=g),
        FieldDef("pipeline", "picklist", "Pipeline", options=[HS_PIPELINE[0]], restricted=True, group=g),
        FieldDef("dealtype", "picklist", "Deal Type", options=list(HS_TYPES), restricted=True, group=g),
        FieldDef("hs_is_closed", "boolean", "Is Deal Closed?", updateable=False, group=g),
        FieldDef("hs_is_closed_won", "boolean", "Is Closed Won", updateable=False, group=g),
        FieldDef("hs_deal_stage_probability", "double", "Deal Stage Probability", updateable=False, group=g),
        FieldDef("deal_currency_code", "picklist", "Currency", options=list(CURRENCY_RATES), restricted=True, group=g),
        FieldDef("amount_in_home_currency", "double", "Amount in company currency", updateable=False, group=g),
    ]
    return {fd.name: fd for fd in fields}
