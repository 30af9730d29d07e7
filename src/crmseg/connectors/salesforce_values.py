"""Values as Salesforce spells them: tag values it takes (shared by the REST writes and the Bulk
API 2.0 CSV), and the error bodies, write results and field descriptions it answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from crmseg.model import SchemaField, WriteResult


def sf_value(value: Any) -> Any:
    """A tag value as Salesforce JSON: lists join with ';' (multi-picklists), dates as ISO."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return ";".join(str(v) for v in value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def sf_error_detail(content: Any) -> tuple[str | None, str | None]:
    """(errorCode, message) from a Salesforce error body (a JSON list, a dict or text)."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        content = content[0]
    if isinstance(content, dict):
        return content.get("errorCode") or content.get("error"), content.get("message") or content.get(
            "error_description"
        )
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return None, str(content) if content else None


def collection_result(record_id: str, res: dict[str, Any], redact: Callable[[str], str]) -> WriteResult:
    """One sObject Collections result as a WriteResult (its error text through ``redact``)."""
    if res.get("success"):
        return WriteResult(record_id, True)
    errs = res.get("errors") or []
    text = (
        "; ".join(
            f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}"
            + (f" (fields: {', '.join(e['fields'])})" if e.get("fields") else "")
            for e in errs
        )
        or "failed without an error message"
    )
    return WriteResult(record_id, False, redact(text))


def schema_field(f: dict[str, Any]) -> SchemaField:
    """A ``describe`` field as a SchemaField (a picklist's active values only)."""
    ftype = str(f.get("type", "string"))
    options = None
    if ftype in ("picklist", "multipicklist"):
        options = [p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)]
    return SchemaField(
        name=f["name"],
        type=ftype,
        updateable=bool(f.get("updateable", False)),
        options=options,
        extra={"label": f.get("label"), "restricted": bool(f.get("restrictedPicklist", False))},
    )
