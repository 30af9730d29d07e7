"""Built-in defaults: credentials and the mappings used when no mapping file is given.

The sandbox prefers ``connectors/<crm>.toml`` (the shipped mappings) when it exists in
the working directory or the source checkout; these mappings are the fallback so the
sandbox also runs from an installed package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmseg.config import Mapping, load_mapping


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the sandbox accepts. Defaults are public test values, never real secrets."""

    username: str = "sandbox@example.com"
    password: str = "sandbox"
    security_token: str = "sandbox-token"
    session_id: str = "00DSANDBOX0000000!sandbox-session"
    consumer_key: str = "sandbox-consumer-key"
    consumer_secret: str = "sandbox-consumer-secret"
    hubspot_token: str = "pat-sandbox-0000-0000"


_SF_FIELDS: dict[str, tuple[str, str]] = {
    "id": ("Id", "str"),
    "name": ("Name", "str"),
    "domain": ("Website", "str"),
    "industry": ("Industry", "str"),
    "employees": ("NumberOfEmployees", "int"),
    "annual_revenue": ("AnnualRevenue", "float"),
    "country": ("BillingCountry", "str"),
    "state": ("BillingState", "str"),
    "city": ("BillingCity", "str"),
    "type": ("Type", "str"),
    "owner": ("OwnerId", "str"),
    "created_at": ("CreatedDate", "datetime"),
    "updated_at": ("LastModifiedDate", "datetime"),
    "tech_stack": ("Tech_Stack__c", "list"),
    "intent_score": ("Intent_Score__c", "int"),
    "web_visits_30d": ("Web_Visits_30d__c", "int"),
    "last_activity_at": ("Last_Activity_At__c", "datetime"),
    "open_opportunities": ("Open_Opportunities__c", "int"),
    "won_opportunities": ("Won_Opportunities__c", "int"),
    "is_customer": ("Is_Customer__c", "bool"),
    "customer_since": ("Customer_Since__c", "date"),
    "lifecycle_stage": ("Lifecycle_Stage__c", "str"),
}

_HS_FIELDS: dict[str, tuple[str, str]] = {
    "id": ("hs_object_id", "str"),
    "name": ("name", "str"),
    "domain": ("domain", "str"),
    "industry": ("industry", "str"),
    "employees": ("numberofemployees", "int"),
    "annual_revenue": ("annualrevenue", "float"),
    "country": ("country", "str"),
    "state": ("state", "str"),
    "city": ("city", "str"),
    "type": ("type", "str"),
    "owner": ("hubspot_owner_id", "str"),
    "created_at": ("createdate", "datetime"),
    "updated_at": ("hs_lastmodifieddate", "datetime"),
    "tech_stack": ("web_technologies", "list"),
    "intent_score": ("intent_score", "int"),
    "web_visits_30d": ("web_visits_30d", "int"),
    "last_activity_at": ("notes_last_updated", "datetime"),
    "open_opportunities": ("hs_num_open_deals", "int"),
    "won_opportunities": ("won_deals", "int"),
    "is_customer": ("is_customer", "bool"),
    "customer_since": ("customer_since", "date"),
    "lifecycle_stage": ("lifecyclestage", "str"),
}


def _mapping(fields: dict[str, tuple[str, str]], **extra: Any) -> Mapping:
    data: dict[str, Any] = {
        "fields": {name: {"source": src, "type": typ} for name, (src, typ) in fields.items()},
        **extra,
    }
    data["fields"]["country"]["normalize"] = "country"
    return Mapping.model_validate(data)


def default_mapping(crm: str) -> Mapping:
    """The built-in mapping for ``crm`` ("salesforce" or "hubspot")."""
    if crm == "salesforce":
        return _mapping(
            _SF_FIELDS,
            object="Account",
            id_field="Id",
            modified_field="SystemModstamp",
            pin_field="Crmseg_Pinned__c",
            tags={"segment": "Crmseg_Segment__c", "tier": "Crmseg_Tier__c", "stage": "Crmseg_Stage__c"},
            tag_field_pattern="Crmseg_{dimension}__c",
            path="<built-in salesforce mapping>",
        )
    if crm == "hubspot":
        return _mapping(
            _HS_FIELDS,
            object="companies",
            id_field="hs_object_id",
            modified_field="hs_lastmodifieddate",
            pin_field="crmseg_pinned",
            tags={"segment": "crmseg_segment", "tier": "crmseg_tier", "stage": "crmseg_stage"},
            tag_field_pattern="crmseg_{dimension}",
            path="<built-in hubspot mapping>",
        )
    raise ValueError(f"unknown crm {crm!r}; allowed: 'salesforce', 'hubspot'")


def resolve_mapping(crm: str, mapping: Mapping | str | Path | None) -> Mapping:
    """A Mapping object: the one given, the file given, ``connectors/<crm>.toml``, or the built-in."""
    if isinstance(mapping, Mapping):
        return mapping
    if mapping is not None:
        return load_mapping(mapping)
    checkout = Path(__file__).resolve().parents[3]  # src/crmseg/sandbox -> repository root
    for shipped in (Path("connectors") / f"{crm}.toml", checkout / "connectors" / f"{crm}.toml"):
        if shipped.is_file():
            return load_mapping(shipped)
    return default_mapping(crm)


def mapping_toml(m: Mapping) -> str:
    """Serialize a Mapping as TOML (for ``--write-config`` with a built-in mapping)."""
    lines = [f"object = {_q(m.object)}", f"id_field = {_q(m.id_field)}"]
    for key in ("modified_field", "pin_field", "tag_field_pattern"):
        val = getattr(m, key)
        if val:
            lines.append(f"{key} = {_q(val)}")
    lines += ["", "[tags]"] + [f"{dim} = {_q(field)}" for dim, field in m.tags.items()]
    for name, fm in m.fields.items():
        lines += ["", f"[fields.{name}]", f"source = {_q(fm.source or name)}", f"type = {_q(fm.type)}"]
        if fm.normalize:
            lines.append(f"normalize = {_q(fm.normalize)}")
        if fm.separator != ";":
            lines.append(f"separator = {_q(fm.separator)}")
        if fm.synonyms:
            lines.append(f"[fields.{name}.synonyms]")
            lines += [f"{_q(k)} = [{', '.join(_q(x) for x in v)}]" for k, v in fm.synonyms.items()]
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
