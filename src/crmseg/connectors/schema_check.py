"""Check a mapping against what the CRM says about its fields, before anything is written.

:func:`check_mapping` returns every problem as one line naming the mapping file, the CRM
field and the object; the caller raises FatalError when the list is not empty.
:func:`check_tags` is its part about what a sync writes (tag fields exist, are updateable, and
their picklists hold every label the rules give): ``sync`` refuses on it, ``rules check
--config`` fails on it, and both close with :func:`provision_hint`.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping as TMapping

from crmseg.config import Mapping
from crmseg.connectors.base import Connector
from crmseg.model import SchemaField

#: CRM field kinds: text, number, bool, date, datetime, picklist, multipicklist, id, other.
_TYPE_KINDS = {
    # canonical (file connectors) and generic names
    "str": "text",
    "string": "text",
    "text": "text",
    "int": "number",
    "float": "number",
    "number": "number",
    "bool": "bool",
    "boolean": "bool",
    "date": "date",
    "datetime": "datetime",
    "list": "multipicklist",
    # Salesforce describe types
    "textarea": "text",
    "url": "text",
    "email": "text",
    "phone": "text",
    "combobox": "text",
    "encryptedstring": "text",
    "picklist": "picklist",
    "multipicklist": "multipicklist",
    "double": "number",
    "currency": "number",
    "percent": "number",
    "long": "number",
    "id": "id",
    "reference": "id",
    # HubSpot property types
    "phone_number": "text",
    "enumeration": "picklist",
}

#: Canonical type -> CRM kinds it cannot be read from (anything else converts, or becomes missing).
_BAD_SOURCES = {
    "int": {"bool", "date", "datetime"},
    "float": {"bool", "date", "datetime"},
    "bool": {"date", "datetime"},
    "date": {"bool", "number"},
    "datetime": {"bool", "number"},
    "list": {"number", "bool", "date", "datetime"},
}


def field_kind(f: SchemaField) -> str:
    """The kind of a CRM field, whichever connector described it."""
    kind = f.extra.get("kind") if f.extra else None
    if kind:
        return str(kind)
    return _TYPE_KINDS.get(f.type.lower(), "other")


def _lookup(schema: TMapping[str, SchemaField], name: str, nocase: bool) -> SchemaField | None:
    if name in schema:
        return schema[name]
    if nocase:
        low = name.lower()
        for key, f in schema.items():
            if key.lower() == low:
                return f
    return None


def check_mapping(
    connector: Connector,
    mapping: Mapping,
    dimensions: TMapping[str, list[str] | None],
    *,
    scores: Collection[str] = (),
    writes: bool = True,
) -> list[str]:
    """Every problem with ``mapping`` against ``connector.schema()``; empty when it fits.

    ``dimensions``: dimension -> its allowed labels (None: no list, e.g. a score).
    ``scores``: the dimensions whose values are numbers. ``writes=False`` (audit, file
    sources) skips the tag-field checks.
    """
    schema = connector.schema()
    nocase = _case_insensitive(connector)
    obj = object_name(connector, mapping)
    where = mapping.path or "mapping"
    problems: list[str] = []

    def missing(name: str, what: str) -> None:
        problems.append(f"{where}: {what}{name} not found on {obj}")

    for canonical, fm in mapping.fields.items():
        source = mapping.source_of(canonical)
        f = _lookup(schema, source, nocase)
        if f is None:
            missing(source, "field ")
            continue
        kind = field_kind(f)
        if kind in _BAD_SOURCES.get(fm.type, set()):
            problems.append(
                f"{where}: field {source} on {obj} is {f.type} ({kind}); it cannot feed {canonical} of type {fm.type}"
            )
    for role, name in (("modified_field", mapping.modified_field), ("id_field", mapping.id_field)):
        if name and not (role == "id_field" and name.lower() == "id") and _lookup(schema, name, nocase) is None:
            missing(name, f"{role} ")
    if writes:  # an audit reads a missing pin field as "not pinned" (see crmseg.audit.plan.plan_config)
        problems.extend(check_tags(connector, mapping, dimensions, scores=scores))
    return problems


def check_tags(
    connector: Connector,
    mapping: Mapping,
    dimensions: TMapping[str, list[str] | None],
    *,
    scores: Collection[str] = (),
) -> list[str]:
    """What stops a sync writing: the pin field and each dimension's tag field missing, not
    updateable, of the wrong type, or a picklist lacking a label of the dimension's ``values``."""
    schema = connector.schema()
    nocase = _case_insensitive(connector)
    obj = object_name(connector, mapping)
    where = mapping.path or "mapping"
    problems: list[str] = []
    if mapping.pin_field and _lookup(schema, mapping.pin_field, nocase) is None:
        problems.append(f"{where}: pin_field {mapping.pin_field} not found on {obj}")
    for dim, values in dimensions.items():
        name = mapping.tag_field(dim)
        if name:
            problems.extend(_check_tag(schema, name, dim, values, dim in scores, nocase, where, obj))
    return problems


def provision_hint(connector: Connector, config: object, sync: str | None) -> str:
    """The way out of :func:`check_tags` problems, for the CRM at hand: ``crmseg schema
    --provision`` where the connector can create fields and options (HubSpot), else the CRM's
    setup, then ``crmseg schema`` to check."""
    check = f"crmseg schema --config {config}" + (f" --sync {sync}" if sync else "")
    if connector.capabilities.provision is not None:
        return (
            f"fix: `{check} --provision` creates the missing tag properties and adds missing labels to the "
            "enumerations crmseg created (add them by hand to properties of other groups), then run again"
        )
    if connector.capabilities.provision_steps is not None:
        return (
            f"fix: `{check} --provision` prints the Web API requests that create the missing columns and "
            "options (send them, or create the same in the maker portal), then run again"
        )
    return (
        "fix: create the missing fields and picklist values in the CRM's setup (`crmseg schema --provision` "
        f"creates them in HubSpot only), then check with `{check}`"
    )


#: Where an admin creates fields by hand in each CRM crmseg cannot create them in (by the sync's
#: ``connector`` type).
FIELD_SETUP = {"salesforce": "Salesforce Setup", "zoho": "Zoho CRM's Setup > Modules and Fields"}


def create_fields_with(connector: Connector, check: str, crm: str) -> str:
    """How missing tag fields get created, for a message about the CRM at hand: ``check
    --provision`` where crmseg creates them (HubSpot) or prints the requests that do (Dynamics),
    else the CRM's own setup (``crm``: the sync's connector type), then ``check``."""
    if connector.capabilities.provision is not None:
        return f"`{check} --provision`"
    if connector.capabilities.provision_steps is not None:
        return (
            f"the Web API requests `{check} --provision` prints (or the same columns in the maker portal), "
            f"then check with `{check}`"
        )
    setup = FIELD_SETUP.get(crm, "the CRM's setup")
    return f"{setup} (then check with `{check}`)"


def unprovisioned(connector: Connector, mapping: Mapping, dimensions: Collection[str]) -> dict[str, str]:
    """The tag fields (dimension -> field) and pin field (``"(pin)"`` -> field) the CRM lacks yet."""
    schema = connector.schema()
    nocase = _case_insensitive(connector)
    wanted = {d: mapping.tag_field(d) for d in dimensions}
    wanted["(pin)"] = mapping.pin_field
    return {key: name for key, name in wanted.items() if name and _lookup(schema, name, nocase) is None}


def object_name(connector: Connector, mapping: Mapping) -> str | None:
    """The CRM object the connector reads (for messages), else the mapping's ``object``."""
    described = connector.capabilities.object_schema
    return (described.object if described is not None else None) or mapping.object


def _case_insensitive(connector: Connector) -> bool:
    described = connector.capabilities.object_schema
    return described is not None and described.field_names_case_insensitive


def _check_tag(
    schema: TMapping[str, SchemaField],
    name: str,
    dim: str,
    values: list[str] | None,
    score: bool,
    nocase: bool,
    where: str,
    obj: str | None,
) -> list[str]:
    f = _lookup(schema, name, nocase)
    head = f"{where}: tag field {name} for dimension {dim}"
    if f is None:
        return [f"{head} not found on {obj}"]
    out = []
    if not f.updateable:
        out.append(f"{head} on {obj} is not updateable")
    kind = field_kind(f)
    if score:
        if kind not in ("number", "text"):
            out.append(f"{head} on {obj} is {f.type} ({kind}); a score needs a number or text field")
    elif kind in ("picklist", "multipicklist"):
        if values is None:
            out.append(
                f"{head} on {obj} is a picklist but the dimension lists no values to check "
                "against it; add values = [...] to the rule file"
            )
        else:
            lacking = [v for v in values if v not in (f.options or [])]
            if lacking:
                out.append(f"{head}: picklist {name} on {obj} lacks value(s) " + ", ".join(repr(v) for v in lacking))
    elif kind not in ("text", "other"):
        out.append(f"{head} on {obj} is {f.type} ({kind}); labels need a text or picklist field")
    return out
