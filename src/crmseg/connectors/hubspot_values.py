"""HubSpot property names and values: checked names, datetimes as epoch milliseconds, tag values
as text (shared by the company and the deal reads and the writes); HubSpot's answers as crmseg
reads them: a batch update's as write results, a property as a schema field, an error's body,
the portal's identity."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from crmseg.connectors.base import CrmIdentity
from crmseg.dates import parse_iso
from crmseg.errors import ConfigError, FatalError
from crmseg.model import SchemaField, TagWrite, WriteResult

__all__ = ["batch_results", "check_prop", "error_body", "hs_value", "portal_identity", "schema_field", "to_ms"]

PROP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_prop(name: str) -> str:
    """``name`` if it is a plain HubSpot property name, else ConfigError."""
    if not isinstance(name, str) or not PROP.fullmatch(name):
        raise ConfigError(f"hubspot: property name {name!r} is not valid (letters, digits, underscores)")
    return name


def to_ms(value: Any) -> int | None:
    """Epoch milliseconds from a HubSpot datetime value (ISO 8601 string or ms epoch)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        return to_ms(parse_iso(text))
    except ValueError:
        return None


def hs_value(value: Any) -> str:
    """A tag value as HubSpot wants it: strings; '' clears; lists join with ';'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ";".join(str(v) for v in value)
    if isinstance(value, datetime):
        return str(to_ms(value))
    return str(value)


def batch_results(chunk: Sequence[TagWrite], body: dict[str, Any]) -> list[WriteResult]:
    """One result per write of ``chunk``, in order, from a batch update's answer (200 or 207 with
    ``errors`` naming the refused ids)."""
    ok = {str(r.get("id")) for r in body.get("results", [])}
    failed: dict[str, str] = {}
    loose: list[str] = []
    for e in body.get("errors", []) or []:
        text = f"{e.get('category') or 'ERROR'}: {e.get('message') or ''}".strip()
        codes = [str(x.get("code")) for x in e.get("errors") or [] if isinstance(x, dict) and x.get("code")]
        if codes:  # e.g. VALIDATION_ERROR with INVALID_OPTION inside: keep the precise code
            text += f" [{', '.join(dict.fromkeys(codes))}]"
        ids = (e.get("context") or {}).get("ids") or ([e["id"]] if e.get("id") else [])
        for rid in ids:
            failed[str(rid)] = text
        if not ids:
            loose.append(text)
    partial = bool(body.get("errors"))
    out = []
    for w in chunk:
        if w.id in failed:
            out.append(WriteResult(w.id, False, failed[w.id]))
        elif w.id in ok or not partial:
            out.append(WriteResult(w.id, True))
        else:
            out.append(WriteResult(w.id, False, "; ".join(loose) or "no result returned for this record"))
    return out


def schema_field(p: dict[str, Any]) -> SchemaField:
    """A property as a SchemaField (an enumeration's visible options only; ``kind`` in ``extra``)."""
    ptype, ftype = str(p.get("type", "string")), str(p.get("fieldType", ""))
    meta = p.get("modificationMetadata") or {}
    updateable = not (meta.get("readOnlyValue") or p.get("calculated"))
    options = [o["value"] for o in p.get("options") or [] if not o.get("hidden")] if ptype == "enumeration" else None
    kind = {
        "string": "text",
        "phone_number": "text",
        "number": "number",
        "bool": "bool",
        "date": "date",
        "datetime": "datetime",
    }.get(ptype, "other")
    if ptype == "enumeration":
        kind = {"checkbox": "multipicklist", "booleancheckbox": "bool"}.get(ftype, "picklist")
    return SchemaField(
        name=p["name"],
        type=ptype,
        updateable=bool(updateable),
        options=options,
        extra={"kind": kind, "fieldType": ftype, "group": p.get("groupName"), "label": p.get("label")},
    )


def error_body(body: Any) -> dict[str, Any]:
    """An error answer's body as a dict: its JSON object, or its text as ``message``."""
    try:
        data = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return {"message": str(body)[:300]}
    return data if isinstance(data, dict) else {}


def portal_identity(body: Mapping[str, Any]) -> CrmIdentity:
    """The identity in an account-info answer: ``portalId`` (and ``uiDomain`` for messages)."""
    portal = body.get("portalId")
    if isinstance(portal, bool) or not isinstance(portal, (int, str)) or not str(portal).isdigit():
        raise FatalError(f"hubspot account-info: no portalId in the answer (got {portal!r})")
    return CrmIdentity("hubspot", str(int(portal)), str(body.get("uiDomain") or ""))
