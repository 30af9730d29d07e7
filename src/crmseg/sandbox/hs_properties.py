"""HubSpot property definitions, property groups and value checks for the sandbox.

``GET /crm/v3/properties/companies``, ``GET|PATCH .../{name}`` and ``POST`` (create, e.g. an
enumeration with ``options``; its ``groupName`` must be an existing group). Property groups:
``GET|POST /crm/v3/properties/companies/groups`` and ``GET|PATCH .../groups/{groupName}``,
shaped ``{"name", "label", "displayOrder", "archived"}``; creating an existing group answers
409. Values are checked the way HubSpot does: an enumeration value that is not one of the
options (each ``;``-separated item for checkboxes), a non-number in a number property, or a
read-only property fails that record.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from crmseg.sandbox.base import ApiError, Request, Response, json_response
from crmseg.sandbox.schema import FieldDef
from crmseg.sandbox.values import FieldError, coerce, split_multi

if TYPE_CHECKING:
    from crmseg.sandbox.hubspot import HubSpotApp

_TYPES = {  # kind -> (type, fieldType)
    "id": ("number", "number"),
    "string": ("string", "text"),
    "url": ("string", "text"),
    "reference": ("string", "text"),
    "textarea": ("string", "textarea"),
    "phone": ("string", "text"),
    "picklist": ("enumeration", "select"),
    "multipicklist": ("enumeration", "checkbox"),
    "int": ("number", "number"),
    "double": ("number", "number"),
    "currency": ("number", "number"),
    "boolean": ("bool", "booleancheckbox"),
    "date": ("date", "date"),
    "datetime": ("datetime", "date"),
}
_FIELD_TYPES = {
    "textarea",
    "text",
    "date",
    "file",
    "number",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "calculation_equation",
    "phonenumber",
    "html",
}
_CODES = {"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": "INVALID_OPTION", "STRING_TOO_LONG": "INVALID_LENGTH"}
#: The company property groups every HubSpot portal has (name -> label).
STANDARD_GROUPS = {
    "companyinformation": "Company information",
    "company_activity": "Company activity",
    "socialmediainformation": "Social media information",
    "analyticsinformation": "Web analytics history",
}
_GROUP_NAME = re.compile(r"[a-z0-9_]+")


def hs_error(status: int, category: str, message: str, **extra: Any) -> ApiError:
    """An ApiError with HubSpot's error body."""
    body = {
        "status": "error",
        "message": message,
        "correlationId": "00000000-0000-4000-8000-000000000000",
        "category": category,
        **extra,
    }
    return ApiError(status, body)


def property_json(fd: FieldDef) -> dict[str, Any]:
    """A property as ``GET /crm/v3/properties/companies`` lists it."""
    typ, field_type = _TYPES.get(fd.kind, ("string", "text"))
    options = [{"label": v, "value": v, "displayOrder": i, "hidden": False} for i, v in enumerate(fd.options or [])]
    if fd.kind == "boolean":
        options = [
            {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
            {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
        ]
    return {
        "name": fd.name,
        "label": fd.extra.get("label", fd.label),
        "type": typ,
        "fieldType": fd.extra.get("fieldType", field_type),
        "description": fd.extra.get("description", ""),
        "groupName": fd.group,
        "options": options,
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": fd.system == "id",
        "hidden": False,
        "hubspotDefined": not fd.custom,
        "formField": fd.updateable,
        "modificationMetadata": {
            "archivable": fd.custom,
            "readOnlyDefinition": not fd.custom,
            "readOnlyValue": not fd.updateable,
        },
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
        "archived": False,
    }


def check_value(fd: FieldDef | None, name: str, value: Any) -> Any:
    """The stored form of a written value, or FieldError(code, message) in HubSpot's terms."""
    if fd is None:
        raise FieldError("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
    if not fd.updateable:
        raise FieldError("READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.')
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise FieldError("INVALID_TYPE", f"{value!r} is not a valid value for {name}")
    if fd.kind in ("picklist", "multipicklist") and value not in (None, ""):
        items = split_multi(value) if fd.kind == "multipicklist" else [str(value)]
        allowed = fd.options or []
        for item in items:
            if item not in allowed:
                raise FieldError(
                    "INVALID_OPTION", f'"{item}" was not one of the allowed options: [{", ".join(allowed)}]'
                )
        return ";".join(items) if fd.kind == "multipicklist" else items[0]
    try:
        return coerce(fd.kind, value, label=name, length=65536)
    except FieldError as exc:
        code = {
            "int": "INVALID_INTEGER",
            "double": "INVALID_FLOAT",
            "currency": "INVALID_FLOAT",
            "boolean": "INVALID_BOOLEAN",
            "date": "INVALID_DATE",
            "datetime": "INVALID_DATETIME",
        }.get(fd.kind, _CODES.get(exc.code, exc.code))
        raise FieldError(code, f"{value!r} is not a valid {fd.kind} value for {name}") from None


def validation_message(errors: list[tuple[str, str, str]]) -> str:
    """HubSpot's "Property values were not valid" message for (code, message, property) triples."""
    items = [{"isValid": False, "message": msg, "error": code, "name": prop} for code, msg, prop in errors]
    return f"Property values were not valid: {json.dumps(items)}"


# ------------------------------------------------------------------ property groups
def initial_groups(schema: dict[str, FieldDef]) -> dict[str, dict[str, Any]]:
    """The standard groups plus every group a property of ``schema`` is in (name -> PropertyGroup)."""
    names = list(STANDARD_GROUPS) + [fd.group for fd in schema.values() if fd.group not in STANDARD_GROUPS]
    return {
        name: {
            "name": name,
            "label": STANDARD_GROUPS.get(name, name.replace("_", " ").title()),
            "displayOrder": i if name in STANDARD_GROUPS else -1,
            "archived": False,
        }
        for i, name in enumerate(dict.fromkeys(names))
    }


def list_groups(app: HubSpotApp, req: Request) -> Response:
    """``GET /crm/v3/properties/companies/groups``."""
    with app.lock:
        return json_response(200, {"results": [dict(g) for g in app.groups.values()]})


def get_group(app: HubSpotApp, req: Request, name: str) -> Response:
    with app.lock:
        group = app.groups.get(name)
    if group is None:
        raise hs_error(404, "OBJECT_NOT_FOUND", f"Unable to find property group {name} for object type COMPANY")
    return json_response(200, dict(group))


def _json_object(req: Request) -> dict[str, Any]:
    try:
        body = req.json()
    except ValueError:
        raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON") from None
    if not isinstance(body, dict):
        raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON")
    return body


def _display_order(body: dict[str, Any], default: int) -> int:
    order = body.get("displayOrder", default)
    if isinstance(order, bool) or not isinstance(order, int):
        raise hs_error(400, "VALIDATION_ERROR", f"displayOrder must be an integer, not {order!r}")
    return order


def create_group(app: HubSpotApp, req: Request) -> Response:
    """``POST /crm/v3/properties/companies/groups`` with ``{"name", "label", "displayOrder"?}``: 201."""
    body = _json_object(req)
    missing = [k for k in ("name", "label") if not body.get(k)]
    if missing:
        raise hs_error(400, "VALIDATION_ERROR", f"Missing required field(s): {', '.join(missing)}")
    name = str(body["name"])
    if not _GROUP_NAME.fullmatch(name):
        raise hs_error(400, "VALIDATION_ERROR", f"Property group name {name!r} must be lowercase letters, digits and _")
    group = {"name": name, "label": str(body["label"]), "displayOrder": _display_order(body, -1), "archived": False}
    with app.lock:
        if name in app.groups:
            raise hs_error(409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists.")
        app.groups[name] = group
    return json_response(201, dict(group))


def update_group(app: HubSpotApp, req: Request, name: str) -> Response:
    """``PATCH /crm/v3/properties/companies/groups/{name}``: label, displayOrder."""
    body = _json_object(req)
    with app.lock:
        group = app.groups.get(name)
        if group is None:
            raise hs_error(404, "OBJECT_NOT_FOUND", f"Unable to find property group {name} for object type COMPANY")
        if name in STANDARD_GROUPS:
            raise hs_error(400, "VALIDATION_ERROR", f"Property group {name} is HubSpot-defined; it is read-only")
        if "label" in body:
            group["label"] = str(body["label"])
        if "displayOrder" in body:
            group["displayOrder"] = _display_order(body, group["displayOrder"])
        return json_response(200, dict(group))


# ------------------------------------------------------------------ properties
def list_properties(app: HubSpotApp, req: Request) -> Response:
    return json_response(200, {"results": [property_json(fd) for fd in app.schema.values()]})


def get_property(app: HubSpotApp, req: Request, name: str) -> Response:
    fd = app.schema.get(name)
    if fd is None:
        raise hs_error(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for object type COMPANY")
    return json_response(200, property_json(fd))


def _kind(typ: str, field_type: str) -> str | None:
    if typ == "enumeration":
        return "multipicklist" if field_type == "checkbox" else "picklist"
    return {
        "string": "string",
        "number": "double",
        "bool": "boolean",
        "date": "date",
        "datetime": "datetime",
        "phone_number": "phone",
    }.get(typ)


def _options(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(o, dict) and "value" in o for o in raw):
        raise hs_error(400, "VALIDATION_ERROR", "options must be a list of {label, value}")
    return [str(o["value"]) for o in raw]


def create_property(app: HubSpotApp, req: Request) -> Response:
    """``POST /crm/v3/properties/companies``."""
    body = _json_object(req)
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
    if missing:
        raise hs_error(400, "VALIDATION_ERROR", f"Missing required field(s): {', '.join(missing)}")
    name = str(body["name"])
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise hs_error(400, "VALIDATION_ERROR", f"Property name {name!r} must be lowercase letters, digits and _")
    kind = _kind(str(body["type"]), str(body["fieldType"]))
    if kind is None or body["fieldType"] not in _FIELD_TYPES:
        raise hs_error(400, "VALIDATION_ERROR", f"Unsupported type/fieldType {body['type']}/{body['fieldType']}")
    with app.lock:
        if name in app.schema:
            raise hs_error(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
        if str(body["groupName"]) not in app.groups:
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                f"Property group {body['groupName']} does not exist. "
                "Create it first (POST /crm/v3/properties/companies/groups).",
            )
        fd = FieldDef(
            name,
            kind,
            str(body["label"]),
            custom=True,
            group=str(body["groupName"]),
            options=_options(body.get("options")) if kind in ("picklist", "multipicklist") else None,
            restricted=kind in ("picklist", "multipicklist"),
        )
        fd.extra.update(fieldType=body["fieldType"], description=str(body.get("description") or ""))
        app.schema = {**app.schema, name: fd}
    return json_response(201, property_json(fd))


def update_property(app: HubSpotApp, req: Request, name: str) -> Response:
    """``PATCH /crm/v3/properties/companies/{name}``: label, description, options."""
    body = _json_object(req)
    with app.lock:
        fd = app.schema.get(name)
        if fd is None:
            raise hs_error(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for object type COMPANY")
        if not fd.custom:
            raise hs_error(400, "VALIDATION_ERROR", f"Property {name} is HubSpot-defined; its definition is read-only")
        if "options" in body and fd.kind in ("picklist", "multipicklist"):
            fd.options = _options(body["options"])
        for key in ("label", "description"):
            if key in body:
                fd.extra[key] = str(body[key])
        app.schema = dict(app.schema)
    return json_response(200, property_json(fd))
