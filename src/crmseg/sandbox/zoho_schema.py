"""The Zoho CRM sandbox's Accounts module: fields, their metadata, values, seeding.

Fields carry Zoho's ``data_type`` as ``FieldDef.kind`` (``text``, ``textarea``, ``website``,
``picklist``, ``multiselectpicklist``, ``integer``, ``bigint``, ``double``, ``currency``,
``boolean``, ``date``, ``datetime``, ``lookup``, ``ownerlookup``). Values are stored the way
the API answers them: text and picklists as strings, multi-select picklists as lists of
strings, numbers and booleans as JSON numbers and booleans, dates as ``YYYY-MM-DD``, date-times
as epoch milliseconds (answered in the org's time zone), lookups as ``{"name", "id"}``.

A picklist's ``pick_list_values`` are ``FieldDef.options``; a value outside them is refused
on write (``INVALID_DATA``). Seeding adds a value an account holds to a standard or custom
picklist that lacks it (an admin would have), except to the tag fields, whose values are the
rules' labels.

Record ids are 19-digit numbers, as Zoho's, whose text order is the seeding order.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from crmseg.config import Mapping
from crmseg.sandbox.schema import Dimension, FieldDef, tag_fields
from crmseg.sandbox.seed import BASE_TIME, row_pinned, row_stamps
from crmseg.sandbox.store import Record
from crmseg.sandbox.values import FieldError, ms_of, parse_datetime, split_multi, to_ms

#: Record ids: ``ACCOUNT_BASE + n`` (19 digits).
ACCOUNT_BASE = 5_725_767_000_000_000_000
#: Users (owners) and deals count from their own bases.
USER_BASE = 5_725_767_000_000_411_000
TEXT_TYPES = frozenset({"text", "textarea", "email", "phone", "website", "autonumber"})
NUMBER_TYPES = frozenset({"integer", "bigint", "double", "currency", "percent", "decimal"})
LOOKUP_TYPES = frozenset({"lookup", "ownerlookup"})
#: Zoho's default Industry pick list of Accounts.
INDUSTRY_VALUES = (
    "ASP (Application Service Provider)",
    "Data/Telecom OEM",
    "ERP (Enterprise Resource Planning)",
    "Government/Military",
    "Large Enterprise",
    "ManagementISV",
    "MSP (Management Service Provider)",
    "Network Equipment Enterprise",
    "Non-management ISV",
    "Optical Networking",
    "Service Provider",
    "Small/Medium Enterprise",
    "Storage Equipment",
    "Storage Service Provider",
    "Systems Integrator",
    "Wireless Industry",
    "Communications",
    "Technology",
)
#: Zoho's default Account Type pick list.
ACCOUNT_TYPES = (
    "Analyst",
    "Competitor",
    "Customer",
    "Distributor",
    "Integrator",
    "Investor",
    "Other",
    "Partner",
    "Press",
    "Prospect",
    "Reseller",
    "Supplier",
    "Vendor",
)
#: The standard Accounts fields the sandbox knows besides the mapping's.
_STANDARD: tuple[FieldDef, ...] = (
    FieldDef("id", "bigint", "Record Id", updateable=False, system="id"),
    FieldDef("Account_Name", "text", "Account Name", length=200),
    FieldDef("Website", "website", "Website", length=255),
    FieldDef("Industry", "picklist", "Industry", options=list(INDUSTRY_VALUES)),
    FieldDef("Employees", "integer", "Employees"),
    FieldDef("Annual_Revenue", "currency", "Annual Revenue"),
    FieldDef("Account_Type", "picklist", "Account Type", options=list(ACCOUNT_TYPES)),
    FieldDef("Billing_Country", "text", "Billing Country", length=100),
    FieldDef("Billing_State", "text", "Billing State", length=100),
    FieldDef("Billing_City", "text", "Billing City", length=100),
    FieldDef("Owner", "ownerlookup", "Account Owner"),
    FieldDef("Created_Time", "datetime", "Created Time", updateable=False, system="created"),
    FieldDef("Modified_Time", "datetime", "Modified Time", updateable=False, system="modified"),
    FieldDef("Last_Activity_Time", "datetime", "Last Activity Time", updateable=False),
)
#: The mapping's canonical type -> the data type of a custom field for it.
_CUSTOM = {
    "str": "text",
    "int": "integer",
    "float": "double",
    "bool": "boolean",
    "date": "date",
    "datetime": "datetime",
    "list": "multiselectpicklist",
}
#: Zoho data type -> ``json_type`` in the fields metadata.
_JSON_TYPE = {
    "integer": "integer",
    "bigint": "string",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "decimal": "double",
    "boolean": "boolean",
    "multiselectpicklist": "jsonarray",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
}


def account_id(n: int) -> str:
    """The n-th seeded account's id."""
    return str(ACCOUNT_BASE + n)


def build_zoho_schema(mapping: Mapping, dims: dict[str, Dimension], create_tags: bool = True) -> dict[str, FieldDef]:
    """Every field of the sandbox's Accounts: the standard ones, the mapping's, the tags and the pin."""
    schema = {fd.name: replace(fd, options=list(fd.options) if fd.options is not None else None) for fd in _STANDARD}
    for canonical, fm in mapping.fields.items():
        src = fm.source or canonical
        if src not in schema:
            kind = _CUSTOM[fm.type]
            schema[src] = FieldDef(
                src, kind, src.replace("_", " "), custom=True, options=[] if kind == "multiselectpicklist" else None
            )
    if not create_tags:
        return schema
    for dim, target in tag_fields(mapping, dims).items():
        d = dims.get(dim)
        if d is not None and d.kind == "score":
            fd = FieldDef(target, "double", target, custom=True, group="crmseg")
        elif d is not None and d.values:
            fd = FieldDef(target, "picklist", target, options=list(d.values), restricted=True, custom=True)
        else:
            fd = FieldDef(target, "text", target, custom=True, length=100)
        fd.extra["dimension"] = dim
        schema[target] = fd
    if mapping.pin_field and mapping.pin_field not in schema:
        schema[mapping.pin_field] = FieldDef(mapping.pin_field, "boolean", mapping.pin_field, custom=True)
    return schema


# ------------------------------------------------------------------ values
def store_value(fd: FieldDef, value: Any, *, learn: bool = False) -> Any:
    """A written (JSON) value as stored; FieldError (``INVALID_DATA``) when the field refuses it.

    ``learn``: a picklist lacking the value gains it (seeding), instead of refusing it."""
    if value is None or value == "" or value == []:
        return None
    kind = fd.kind
    if kind in TEXT_TYPES:
        if isinstance(value, (dict, list, bool)):
            raise _type_error(fd, "string")
        text = str(value)
        if len(text) > fd.length:
            raise ZohoDataError("invalid data", {"maximum_length": fd.length, "api_name": fd.name})
        return text
    if kind == "picklist":
        if not isinstance(value, str):
            raise _type_error(fd, "string")
        return _pick(fd, value, learn)
    if kind == "multiselectpicklist":
        items = split_multi(value) if isinstance(value, (str, list, tuple)) else None
        if items is None:
            raise _type_error(fd, "jsonarray")
        return [_pick(fd, item, learn) for item in items] or None
    if kind in NUMBER_TYPES:
        num = _number(value)
        if num is None or (kind in ("integer", "bigint") and not num.is_integer()):
            raise _type_error(fd, "integer" if kind in ("integer", "bigint") else "double")
        return int(num) if kind in ("integer", "bigint") else num
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise _type_error(fd, "boolean")
        return text == "true"
    if kind in ("date", "datetime"):
        when = parse_datetime(value) if isinstance(value, str) else None
        if when is None:
            raise _type_error(fd, kind)
        return when.date().isoformat() if kind == "date" else to_ms(when)
    if kind in LOOKUP_TYPES:
        if isinstance(value, dict) and value.get("id"):
            return {"name": value.get("name"), "id": str(value["id"])}
        raise _type_error(fd, "jsonobject")
    raise ZohoDataError("invalid data", {"api_name": fd.name})


def _pick(fd: FieldDef, value: str, learn: bool) -> str:
    options = fd.options if fd.options is not None else []
    if value not in options:
        if not learn or fd.restricted:
            raise ZohoDataError("invalid data", {"api_name": fd.name, "supported_values": list(options)})
        options.append(value)
        fd.options = options
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        num = float(str(value).replace(",", "")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return num if math.isfinite(num) else None


class ZohoDataError(FieldError):
    """A value a field refuses, with the ``details`` Zoho answers beside ``INVALID_DATA``."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__("INVALID_DATA", message)
        self.details = details


def _type_error(fd: FieldDef, expected: str) -> ZohoDataError:
    return ZohoDataError("invalid data", {"expected_data_type": expected, "api_name": fd.name})


def zoho_time(ms: int, offset: str) -> str:
    """A date-time as Zoho answers it: whole seconds in the org's time zone, ``+05:30`` style."""
    sign = -1 if offset.startswith("-") else 1
    hours, _, minutes = offset.lstrip("+-").partition(":")
    delta = timedelta(hours=int(hours or 0), minutes=int(minutes or 0)) * sign
    local = datetime.fromtimestamp(ms // 1000, tz=UTC) + delta
    return local.strftime("%Y-%m-%dT%H:%M:%S") + (offset if offset not in ("Z", "+00:00", "") else "+00:00")


def answer_value(fd: FieldDef, rec: Record, offset: str) -> Any:
    """One field of a record as the API answers it."""
    if fd.system == "id":
        return rec.id
    if fd.system in ("created", "modified"):
        return zoho_time(rec.created_ms if fd.system == "created" else rec.modified_ms, offset)
    stored = rec.data.get(fd.name)
    if stored is None:
        return [] if fd.kind == "multiselectpicklist" else None
    if fd.kind == "datetime":  # epoch ms, or ISO text an out-of-band edit stored
        ms = ms_of(stored)
        return zoho_time(ms, offset) if ms is not None else None
    return stored


# ------------------------------------------------------------------ metadata
def field_metadata(fd: FieldDef, org_id: str, module: str) -> dict[str, Any]:
    """One field as ``GET /settings/fields`` describes it (the keys crmseg and most clients read)."""
    read_only = not fd.updateable or fd.system is not None
    field_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"zoho:{org_id}:{module}:{fd.name}").int % 10**19)
    out: dict[str, Any] = {
        "api_name": fd.name,
        "id": field_id,
        "field_label": fd.label,
        "display_label": fd.label,
        "data_type": fd.kind,
        "json_type": _JSON_TYPE.get(fd.kind, "string"),
        "custom_field": fd.custom,
        "read_only": read_only,
        "field_read_only": read_only,
        "system_mandatory": fd.name in ("Account_Name", "Deal_Name", "Stage"),
        "length": fd.length,
        "visible": True,
        "operation_type": {
            "web_update": not read_only,
            "api_create": not read_only,
            "web_create": True,
            "api_update": not read_only,
        },
        "pick_list_values": [],
        "lookup": {},
    }
    if fd.options is not None:
        extra = fd.extra.get("pick_list_extra") or {}
        out["pick_list_values"] = [
            {
                "display_value": value,
                "actual_value": value,
                "reference_value": value,
                "sequence_number": i,
                "type": "used",
                "id": str(int(field_id) + i),
                **extra.get(value, {}),
            }
            for i, value in enumerate(fd.options, start=1)
        ]
    if fd.kind in LOOKUP_TYPES and fd.extra.get("module"):
        out["lookup"] = {"module": {"api_name": fd.extra["module"]}, "display_label": fd.label}
    return out


# ------------------------------------------------------------------ seeding
def learn_stored(schema: dict[str, FieldDef], data: dict[str, Any]) -> None:
    """Add the values a stored record holds to its picklists that lack them (a store file
    seeded before this start: an admin added them then)."""
    for name, value in data.items():
        fd = schema.get(name)
        if fd is None or fd.options is None or fd.restricted or value in (None, "", []):
            continue
        for item in value if isinstance(value, list) else [value]:
            if str(item) not in fd.options:
                fd.options.append(str(item))


def owner_of(name: str) -> dict[str, Any]:
    """The user a seeded owner name stands for: ``{"name", "id", "email"}``."""
    n = uuid.uuid5(uuid.NAMESPACE_URL, f"zoho-user:{name}").int % 100_000
    return {"name": name, "id": str(USER_BASE + n), "email": f"{name.lower().replace(' ', '.')}@example.com"}


def seed_records(
    rows: Iterable[dict[str, Any]], mapping: Mapping, schema: dict[str, FieldDef], tags: dict[str, str]
) -> tuple[list[Record], dict[str, str]]:
    """Store records for canonical account rows; returns them and the map seed id -> record id.

    Values a field refuses ("n/a" employees) are left empty, as an import would; a picklist
    value an account holds is added to a field lacking it (not to the tag fields)."""
    plan: list[tuple[str, FieldDef]] = []
    for canonical, fm in mapping.fields.items():
        fd = schema.get(fm.source or canonical)
        if fd is not None and fd.system is None:
            plan.append((canonical, fd))
    plan += [(f"crmseg_{dim}", schema[target]) for dim, target in tags.items() if target in schema]
    pin = mapping.pin_field if mapping.pin_field in schema else None
    base_ms = to_ms(BASE_TIME)
    records: list[Record] = []
    id_map: dict[str, str] = {}
    empty: dict[str, Any] = {fd.name: None for fd in schema.values() if fd.system is None}
    for n, row in enumerate(rows, start=1):
        data = dict(empty)
        for column, fd in plan:
            raw = row.get(column)
            if raw in (None, ""):
                continue
            try:
                data[fd.name] = owner_of(str(raw)) if fd.kind == "ownerlookup" else seed_value(fd, raw)
            except FieldError:
                data[fd.name] = None
        if pin:
            data[pin] = row_pinned(row)
        rid = account_id(n)
        given = str(row.get("id") or "").strip()
        if given:
            id_map[given] = rid
        records.append(Record(rid, *row_stamps(row, n, base_ms, 1000), data))
    return records, id_map


def seed_value(fd: FieldDef, raw: Any) -> Any:
    """A canonical CSV value as stored (CSV text: booleans as yes/no too, ms or ISO times)."""
    if fd.kind == "boolean" and isinstance(raw, str):
        low = raw.strip().lower()
        raw = "true" if low in ("1", "true", "yes", "y") else "false" if low in ("0", "false", "no", "n") else raw
    if fd.kind in ("date", "datetime") and not isinstance(raw, str):
        ms = ms_of(raw)
        raw = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat() if ms is not None else raw
    return store_value(fd, raw, learn=True)
