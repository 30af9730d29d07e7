"""The Dynamics 365 sandbox's ``account`` table: columns, choice option sets, seeding, and the
metadata endpoints that describe them.

Columns are Dataverse attributes (``AttributeType``: ``Uniqueidentifier``, ``String``,
``Memo``, ``Picklist``, ``Integer``, ``Money``, ``Double``, ``Boolean``, ``DateTime``,
``Lookup``). A choice (``Picklist``) column stores the option's integer value, as Dataverse
does; its options are ``FieldDef.extra["options"]`` (label -> value). Standard choice columns
(``industrycode``, ``customertypecode``) number their options from 1 (``industrycode`` comes
with Microsoft's 33 default options); custom ones (the tag columns), and options added to a
standard column that ships some, from 100,000,000, the option-value prefix of the default
publisher (``new_``).

Record ids are GUIDs whose text order is the seeding order (paging follows the primary key).

The metadata endpoints (:class:`DataverseMetadata`):

- ``GET /api/data/v9.2/EntityDefinitions(LogicalName='account')`` (``ChangeTrackingEnabled``, ...;
  with ``$expand=Attributes(...)`` its attributes too)
- ``GET /api/data/v9.2/EntityDefinitions(LogicalName='account')/Attributes`` (``LogicalName``,
  ``AttributeType``, ``IsValidForUpdate``, ...)
- ``.../Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`` (choice columns with
  ``OptionSet.Options[].Value`` / ``Label.UserLocalizedLabel.Label``)

``$select``/``$expand`` are accepted and every property is answered.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from crmseg.config import Mapping
from crmseg.sandbox.base import BaseApp, Request, Response, json_response
from crmseg.sandbox.dynamics_odata import API
from crmseg.sandbox.schema import Dimension, FieldDef, tag_fields
from crmseg.sandbox.seed import BASE_TIME, row_pinned, row_stamps
from crmseg.sandbox.store import Record
from crmseg.sandbox.values import FieldError, coerce, to_ms

#: Option values of custom choice columns start here (the default publisher's prefix 10,000).
CUSTOM_OPTION_BASE = 100_000_000
#: ``account.industrycode``'s default options (values 1 to 33), as every environment has them;
#: a label seeded beyond these is an option an admin added (a custom value, from 100,000,000).
INDUSTRY_OPTIONS = (
    "Accounting",
    "Agriculture and Non-petrol Natural Resource Extraction",
    "Broadcasting Printing and Publishing",
    "Brokers",
    "Building Supply Retail",
    "Business Services",
    "Consulting",
    "Consumer Services",
    "Design, Direction and Creative Management",
    "Distributors, Dispatchers and Processors",
    "Doctor's Offices and Clinics",
    "Durable Manufacturing",
    "Eating and Drinking Places",
    "Entertainment Retail",
    "Equipment Rental and Leasing",
    "Financial",
    "Food and Tobacco Processing",
    "Inbound Capital Intensive Processing",
    "Inbound Repair and Services",
    "Insurance",
    "Legal Services",
    "Non-Durable Merchandise Retail",
    "Outbound Consumer Service",
    "Petrochemical Extraction and Distribution",
    "Service Retail",
    "SIG Affiliations",
    "Social Services",
    "Special Outbound Trade Contractors",
    "Specialty Realty",
    "Transportation",
    "Utility Creation and Distribution",
    "Vehicle Retail",
    "Wholesale",
)
#: The standard columns of ``account`` the sandbox knows besides the mapping's.
_STANDARD: dict[str, FieldDef] = {
    "accountid": FieldDef("accountid", "Uniqueidentifier", "Account", updateable=False, system="id"),
    "name": FieldDef("name", "String", "Account Name", length=160),
    "createdon": FieldDef("createdon", "DateTime", "Created On", updateable=False, system="created"),
    "modifiedon": FieldDef("modifiedon", "DateTime", "Modified On", updateable=False, system="modified"),
    "websiteurl": FieldDef("websiteurl", "String", "Website", length=200),
    "industrycode": FieldDef("industrycode", "Picklist", "Industry", options=[]),
    "customertypecode": FieldDef("customertypecode", "Picklist", "Relationship Type", options=[]),
    "numberofemployees": FieldDef("numberofemployees", "Integer", "Number of Employees"),
    "revenue": FieldDef("revenue", "Money", "Annual Revenue"),
    "address1_country": FieldDef("address1_country", "String", "Address 1: Country/Region", length=80),
    "address1_stateorprovince": FieldDef("address1_stateorprovince", "String", "Address 1: State/Province", length=50),
    "address1_city": FieldDef("address1_city", "String", "Address 1: City", length=80),
    "_ownerid_value": FieldDef("_ownerid_value", "Lookup", "Owner", updateable=False),
}
#: The mapping's canonical type -> the attribute type of a custom column for it.
_KIND = {
    "str": "String",
    "int": "Integer",
    "float": "Double",
    "bool": "Boolean",
    "date": "DateTime",
    "datetime": "DateTime",
    "list": "Memo",  # multi-valued text joined by ";" (multi-select choices are not emulated)
}
#: Attribute type -> the CRM-neutral kind ``crmseg.sandbox.values.coerce`` converts to.
COERCE_KIND = {
    "String": "string",
    "Memo": "textarea",
    "Uniqueidentifier": "id",
    "Lookup": "reference",
    "Integer": "int",
    "Double": "double",
    "Money": "currency",
    "Boolean": "boolean",
    "DateTime": "datetime",
}


def guid(n: int) -> str:
    """The n-th account id: a GUID whose text order is ``n``'s order."""
    return f"{n:08x}-d365-4000-8000-{n % 0x1000000000000:012x}"


#: The owner column (a system-required ``Owner`` lookup: every account has one).
OWNER_COLUMN = "_ownerid_value"
#: The systemuser an account without a named owner belongs to (as the importing user would).
DEFAULT_OWNER = "00000000-5a9d-4000-8000-000000000001"


def owner_guid(name: Any) -> str:
    """The systemuser id standing for a seed row's ``owner`` text (stable per name), or the
    default owner when the row names none."""
    text = str(name or "").strip().lower()
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmseg-sandbox:systemuser:{text}")) if text else DEFAULT_OWNER


def build_dynamics_schema(
    mapping: Mapping, dims: dict[str, Dimension], create_tags: bool = True
) -> dict[str, FieldDef]:
    """Every column of the sandbox's ``account`` (the mapping's, the tags', the standard ones)."""
    schema = {
        name: replace(fd, options=list(fd.options or []) if fd.options is not None else None, extra={})
        for name, fd in _STANDARD.items()
    }
    for fd in schema.values():
        if fd.kind == "Picklist":
            fd.extra["options"] = {}
    industry = schema["industrycode"]
    industry.extra["options"] = {label: n for n, label in enumerate(INDUSTRY_OPTIONS, start=1)}
    industry.extra["defaults"] = len(INDUSTRY_OPTIONS)
    industry.options = list(INDUSTRY_OPTIONS)
    for canonical, fm in mapping.fields.items():
        src = fm.source or canonical
        if src not in schema:
            schema[src] = FieldDef(src, _KIND[fm.type], src, custom=True, length=4000 if fm.type == "list" else 100)
    if not create_tags:
        return schema
    for dim, target in tag_fields(mapping, dims).items():
        d = dims.get(dim)
        if d is not None and d.kind == "score":
            fd = FieldDef(target, "Double", target, custom=True, group="crmseg")
        elif d is not None and d.values:
            fd = FieldDef(
                target, "Picklist", target, options=list(d.values), restricted=True, custom=True, group="crmseg"
            )
            fd.extra["options"] = {label: CUSTOM_OPTION_BASE + i for i, label in enumerate(d.values)}
        else:
            fd = FieldDef(target, "String", target, custom=True, group="crmseg", length=100)
        fd.extra["dimension"] = dim
        schema[target] = fd
    if mapping.pin_field and mapping.pin_field not in schema:
        schema[mapping.pin_field] = FieldDef(
            mapping.pin_field, "Boolean", mapping.pin_field, custom=True, group="crmseg"
        )
    return schema


#: Lookup columns whose attribute type is not plain ``Lookup`` (the owner is an ``Owner`` lookup).
_LOOKUP_TYPES = {"ownerid": "Owner", "customerid": "Customer"}


def attribute_of(fd: FieldDef) -> tuple[str, str]:
    """(LogicalName, AttributeType) of a column in the table definition. A lookup is read and
    selected through its ``_<name>_value`` property, but its attribute is ``<name>`` (Microsoft's
    "Web API navigation properties": lookup properties are named ``_<name>_value``)."""
    if fd.kind == "Lookup" and fd.name.startswith("_") and fd.name.endswith("_value"):
        name = fd.name[1 : -len("_value")]
        return name, _LOOKUP_TYPES.get(name, "Lookup")
    return fd.name, fd.kind


def option_value(fd: FieldDef, label: str, learn: bool) -> int | None:
    """The integer of a choice column's option ``label`` (None: no such option); ``learn`` adds it."""
    options: dict[str, int] = fd.extra.setdefault("options", {})
    if label in options:
        return options[label]
    if not learn:
        return None
    defaults = int(fd.extra.get("defaults") or 0)  # a standard column's shipped options
    base = CUSTOM_OPTION_BASE if fd.custom or defaults else 1
    options[label] = base + len(options) - defaults
    if fd.options is not None:
        fd.options.append(label)
    return options[label]


def option_label(fd: FieldDef, value: Any) -> str | None:
    """The label of a choice column's stored integer (None when it is no option)."""
    for label, v in (fd.extra.get("options") or {}).items():
        if v == value:
            return str(label)
    return None


def store_value(fd: FieldDef, value: Any) -> Any:
    """A written (JSON) value as stored: choices as their integer, the rest coerced; FieldError if refused."""
    if value is None or value == "":
        return None
    if fd.kind == "Picklist":
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError("0x80048d19", f"Cannot convert the literal '{value}' to the expected type 'Edm.Int32'.")
        if option_label(fd, value) is None:
            accepted = ",".join(str(v) for v in (fd.extra.get("options") or {}).values())
            raise FieldError(
                "0x8004431a",
                f"A validation error occurred. The value {value} of '{fd.name}' on record of type 'account' is "
                f"outside the valid range. Accepted Values: {accepted}",
            )
        return value
    return coerce(COERCE_KIND.get(fd.kind, "string"), value, label=fd.name, length=fd.length)


def seed_records(
    rows: Iterable[dict[str, Any]], mapping: Mapping, schema: dict[str, FieldDef], tags: dict[str, str]
) -> tuple[list[Record], dict[str, str]]:
    """Store records for canonical account rows; returns them and the map seed id -> account GUID.

    A choice column's label becomes its option's value (a label not yet an option of a
    standard or unrestricted column is added, as an admin would have); values a column refuses
    are left empty, as a real import would; every account has an owner (the row's, else the
    default systemuser), as Dataverse requires."""
    plan: list[tuple[str, FieldDef]] = []
    for canonical, fm in mapping.fields.items():
        fd = schema.get(fm.source or canonical)
        if fd is not None and not fd.system and fd.updateable:
            plan.append((canonical, fd))
    plan += [(f"crmseg_{dim}", schema[target]) for dim, target in tags.items() if target in schema]
    pin = mapping.pin_field if mapping.pin_field in schema else None
    base_ms = to_ms(BASE_TIME)
    records: list[Record] = []
    id_map: dict[str, str] = {}
    for n, row in enumerate(rows, start=1):
        data: dict[str, Any] = {fd.name: None for fd in schema.values() if not fd.system}
        for column, fd in plan:
            raw = row.get(column)
            if raw in (None, ""):
                continue
            if fd.kind == "Picklist":
                data[fd.name] = option_value(fd, str(raw), learn=not fd.restricted)
                continue
            try:
                data[fd.name] = store_value(fd, raw)
            except FieldError:
                data[fd.name] = None
        if pin:
            data[pin] = row_pinned(row)
        if OWNER_COLUMN in data:
            data[OWNER_COLUMN] = owner_guid(row.get("owner"))
        rid = guid(n)
        given = str(row.get("id") or "").strip()
        if given:
            id_map[given] = rid
        records.append(Record(rid, *row_stamps(row, n, base_ms), data))
    return records, id_map


_METADATA_TYPE = {
    "Picklist": "Picklist",
    "Integer": "Integer",
    "Money": "Money",
    "Double": "Double",
    "Boolean": "Boolean",
    "DateTime": "DateTime",
    "Memo": "Memo",
    "Lookup": "Lookup",
    "Uniqueidentifier": "",
}


class DataverseMetadata(BaseApp):
    """The Dynamics app's metadata endpoints: the ``account`` table's definition, its attributes
    and its choice columns' option sets."""

    def _entity(self, req: Request) -> Response:
        """The account table's definition (``ChangeTrackingEnabled`` among its properties), with
        its attributes when ``$expand=Attributes(...)`` asks (every property answered)."""
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}{API}/$metadata#EntityDefinitions/$entity",
            "LogicalName": "account",
            "SchemaName": "Account",
            "EntitySetName": "accounts",
            "PrimaryIdAttribute": "accountid",
            "ChangeTrackingEnabled": self.options.change_tracking,
            "MetadataId": str(uuid.uuid5(uuid.UUID(self.options.organization_id), "account")),
        }
        if re.match(r"^Attributes\b", req.arg("$expand") or ""):
            body["Attributes"] = self._attribute_rows()
        return json_response(200, body)

    def _attributes(self, req: Request) -> Response:
        return json_response(
            200,
            {
                "@odata.context": f"{self.base_url}{API}/$metadata#EntityDefinitions('account')/Attributes",
                "value": self._attribute_rows(),
            },
        )

    def _attribute_rows(self) -> list[dict[str, Any]]:
        value = []
        for fd in self.schema.values():
            name, kind = attribute_of(fd)
            value.append(
                {
                    "@odata.type": f"#Microsoft.Dynamics.CRM.{_METADATA_TYPE.get(fd.kind, 'String')}AttributeMetadata",
                    "LogicalName": name,
                    "SchemaName": name,
                    "AttributeType": kind,
                    "AttributeTypeName": {"Value": f"{kind}Type"},
                    "IsValidForUpdate": fd.updateable,
                    "IsValidForRead": True,
                    "IsCustomAttribute": fd.custom,
                    "IsPrimaryId": fd.system == "id",
                    "MetadataId": str(uuid.uuid5(uuid.UUID(self.options.organization_id), fd.name)),
                }
            )
        return value

    def _picklists(self, req: Request) -> Response:
        value = []
        for fd in self.schema.values():
            if fd.kind != "Picklist":
                continue
            options = [
                {
                    "Value": v,
                    "Label": {
                        "LocalizedLabels": [{"Label": label, "LanguageCode": 1033}],
                        "UserLocalizedLabel": {"Label": label, "LanguageCode": 1033},
                    },
                }
                for label, v in (fd.extra.get("options") or {}).items()
            ]
            value.append(
                {
                    "LogicalName": fd.name,
                    "MetadataId": str(uuid.uuid5(uuid.UUID(self.options.organization_id), fd.name)),
                    "OptionSet": {"Name": f"account_{fd.name}", "IsGlobal": False, "Options": options},
                    "GlobalOptionSet": None,
                }
            )
        return json_response(200, {"value": value})
