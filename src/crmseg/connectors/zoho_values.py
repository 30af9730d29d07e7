"""Zoho CRM values and answers: tag values as Zoho takes them, and what its answers mean — an
error (:class:`ZohoHTTPError`, and :func:`classify` for the retry policy), one record's write
answer, a lookup, a field of ``settings/fields`` (shared by the connector's reads and writes and
Bulk Read).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping as TMapping
from typing import Any

from crmseg.connectors.limits import header, parse_retry_after
from crmseg.connectors.retry import Op, auth_refused, http_error
from crmseg.errors import AuthExpiredError, CrmsegError, FatalError
from crmseg.model import SchemaField, WriteResult

__all__ = [
    "ZohoHTTPError",
    "as_dict",
    "classify",
    "error_of",
    "lookup_id",
    "outcome",
    "schema_field",
    "wire_value",
]

_KINDS = {
    "text": "text",
    "textarea": "text",
    "email": "text",
    "phone": "text",
    "website": "text",
    "autonumber": "text",
    "integer": "number",
    "bigint": "number",
    "double": "number",
    "currency": "number",
    "percent": "number",
    "decimal": "number",
    "boolean": "bool",
    "date": "date",
    "datetime": "datetime",
    "picklist": "picklist",
    "multiselectpicklist": "multipicklist",
    "lookup": "id",
    "ownerlookup": "id",
    "userlookup": "id",
}
_PICKLISTS = frozenset({"picklist", "multiselectpicklist"})


class ZohoHTTPError(Exception):
    """A Zoho answer with an error status (mapped by the connector's classifier)."""

    def __init__(self, status: int, headers: TMapping[str, str], body: bytes) -> None:
        self.status, self.headers = status, headers
        self.code, self.message, self.details = error_of(body)
        super().__init__(f"HTTP {status} {self.code or ''}: {self.message or ''}")


def error_of(body: bytes) -> tuple[str | None, str | None, dict[str, Any]]:
    """(code, message, details) of a Zoho error body (a whole-request error, or the first of ``data``)."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return None, body[:300].decode("utf-8", "replace") or None, {}
    if isinstance(data, dict) and isinstance(data.get("data"), list) and data["data"]:
        data = data["data"][0]
    if not isinstance(data, dict):
        return None, None, {}
    details = as_dict(data.get("details"))
    return (str(data["code"]) if data.get("code") else None), (str(data.get("message") or "") or None), details


def outcome(rid: str, answer: Any, redact: Callable[[str], str]) -> WriteResult:
    """One record's answer: ``SUCCESS``, else its code, message and the field it names."""
    if not isinstance(answer, dict):
        return WriteResult(rid, False, "no answer for this record")
    code = str(answer.get("code") or "")
    if code == "SUCCESS" or answer.get("status") == "success":
        return WriteResult(rid, True)
    details = as_dict(answer.get("details"))
    field = details.get("api_name")
    text = f"{code or 'ERROR'}: {answer.get('message') or 'no message'}" + (f" (field {field})" if field else "")
    if details.get("supported_values"):
        text += f"; allowed: {', '.join(map(str, details['supported_values']))}"
    return WriteResult(rid, False, redact(text))


def wire_value(f: SchemaField, value: Any) -> Any:
    """A tag value as Zoho takes it: a pick list's value only when listed (ValueError naming
    ``INVALID_DATA`` otherwise), numbers as numbers, None clears."""
    if value is None or value == "":
        return None
    kind = f.extra.get("kind")
    if f.type in _PICKLISTS:
        items = [str(v) for v in value] if isinstance(value, (list, tuple, set, frozenset)) else [str(value)]
        lacking = [v for v in items if v not in (f.options or [])]
        if lacking:
            raise ValueError(
                f"INVALID_DATA: {lacking[0]!r} is no value of the pick list {f.name} "
                f"(values: {', '.join(f.options or []) or 'none'}); add it in Setup > Modules and Fields"
            )
        return items if f.type == "multiselectpicklist" else items[0]
    if kind == "number":
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else float(value)
    if kind == "bool":
        return bool(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ";".join(str(v) for v in value)
    return str(value) if kind == "text" else value


def lookup_id(value: Any) -> Any:
    """A lookup (``{"name", "id"}``) as its record's id; other values unchanged."""
    if isinstance(value, dict) and "id" in value:
        return str(value["id"]) if value["id"] is not None else None
    return value


def schema_field(f: TMapping[str, Any]) -> SchemaField:
    """One field of ``settings/fields`` as a SchemaField (options: the pick list's actual values)."""
    data_type = str(f.get("data_type") or "text")
    operation = as_dict(f.get("operation_type"))
    updateable = (
        not f.get("read_only") and not f.get("field_read_only") and operation.get("api_update", True) is not False
    )
    values = [v for v in f.get("pick_list_values") or [] if isinstance(v, dict)]
    options = [str(v.get("actual_value")) for v in values] if data_type in _PICKLISTS else None
    #: A pick list value's metadata besides its name (a deal stage's forecast_type, probability...).
    meta = {str(v.get("actual_value")): v for v in values}
    return SchemaField(
        name=str(f["api_name"]),
        type=data_type,
        updateable=bool(updateable),
        options=options,
        extra={
            "kind": _KINDS.get(data_type, "other"),
            "custom": f.get("custom_field"),
            "length": f.get("length"),
            "pick_list_meta": meta,
        },
    )


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a dict (a JSON object), else an empty one."""
    return value if isinstance(value, dict) else {}


def classify(exc: BaseException, op: Op, credential: str) -> CrmsegError | None:
    """What a failed call means for the retry policy (None: not a Zoho answer); ``credential``
    names the token's source in a refusal."""
    if not isinstance(exc, ZohoHTTPError):
        return None
    if exc.status == 401 and exc.code in ("INVALID_TOKEN", "AUTHENTICATION_FAILURE"):
        return AuthExpiredError(f"{op}: HTTP 401 {exc.code} (the access token was refused)", 0.0)
    if exc.status == 401:
        return auth_refused(op, "401 Unauthorized", exc.code, exc.message, credential)
    if exc.status == 429:
        left = header(exc.headers, "X-API-CREDITS-REMAINING")
        text = f"{op}: HTTP 429 {exc.code or ''}: {exc.message or ''}".rstrip(": ")
        if left is not None and left.strip().isdigit() and int(left) == 0:
            return FatalError(
                f"{text} (the org's API credits for the rolling 24 hours are used up: the CRM's API limit is "
                "exhausted; try again after it resets)"
            )
    retry_after = parse_retry_after(header(exc.headers, "Retry-After"))
    return http_error(op, exc.status, exc.code, exc.message, retry_after, credential)
