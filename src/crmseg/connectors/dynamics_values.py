"""Dataverse values and answers: tag values as the Web API takes them, and what its answers mean
— an error (:class:`DataverseHTTPError`, and :func:`classify` for the retry policy), a ``$batch``
answer and each request's write outcome, a column of the table definition (its Web API property
name, kind and choice options).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping as TMapping
from email import policy as email_policy
from email.parser import BytesParser
from typing import Any

from crmseg.connectors.base import DeltaLinkExpired
from crmseg.connectors.limits import header, parse_retry_after
from crmseg.connectors.retry import Op, http_error
from crmseg.errors import AuthExpiredError, CrmsegError
from crmseg.model import SchemaField, WriteResult

__all__ = [
    "CHOICE_TYPES",
    "EXPIRED_VERSION_STAMP",
    "DataverseHTTPError",
    "classify",
    "error_of",
    "option_values",
    "outcome",
    "parse_batch_response",
    "property_name",
    "schema_field",
    "wire_value",
]

_KINDS = {
    "String": "text",
    "Memo": "text",
    "Integer": "number",
    "BigInt": "number",
    "Double": "number",
    "Decimal": "number",
    "Money": "number",
    "Boolean": "bool",
    "DateTime": "datetime",
    "Picklist": "picklist",
    "State": "picklist",
    "Status": "picklist",
    "Uniqueidentifier": "id",
    "Lookup": "id",
    "Owner": "id",
    "Customer": "id",
}
CHOICE_TYPES = frozenset({"Picklist", "State", "Status"})
#: Attribute types whose Web API property is ``_<name>_value`` (Microsoft: "Lookup properties").
_LOOKUP_TYPES = frozenset({"Lookup", "Owner", "Customer"})
#: Dataverse's ExpiredVersionStamp: a delta token past the organization's ExpireChangeTrackingInDays.
EXPIRED_VERSION_STAMP = "0x80044352"


class DataverseHTTPError(Exception):
    """A Dataverse answer with an error status (mapped by :func:`classify`)."""

    def __init__(self, status: int, headers: TMapping[str, str], body: bytes) -> None:
        self.status, self.headers = status, headers
        self.code, self.message = error_of(body)
        super().__init__(f"HTTP {status} {self.code or ''}: {self.message or ''}")


def classify(exc: BaseException, op: Op) -> CrmsegError | None:
    """What a failed call means for the retry policy (None: not a Dataverse answer)."""
    if not isinstance(exc, DataverseHTTPError):
        return None
    if exc.status == 401:  # Dataverse does not say why: take it as an expired token, renew once
        return AuthExpiredError(f"{op}: HTTP 401 (the access token was refused)", 0.0)
    if op.operation == "delta" and (exc.code == EXPIRED_VERSION_STAMP or exc.status in (400, 404, 410)):
        # a delta link is opaque: whatever the reason Dataverse refuses one, only a full read
        # (which hands out a new one) goes on from there
        return DeltaLinkExpired(f"{op}: HTTP {exc.status} {exc.code or ''}: {exc.message or 'delta link refused'}")
    retry_after = parse_retry_after(header(exc.headers, "Retry-After"))
    return http_error(op, exc.status, exc.code, exc.message, retry_after)


def parse_batch_response(content_type: str, body: bytes) -> list[tuple[int, str | None, str | None]]:
    """(status, error code, error message) of each request in a ``$batch`` answer, in order
    (a change set's answers in place)."""
    msg = BytesParser(policy=email_policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    out: list[tuple[int, str | None, str | None]] = []

    def walk(part: Any) -> None:
        if part.is_multipart():
            for sub in part.iter_parts():
                walk(sub)
            return
        raw = part.get_payload(decode=True) or b""
        head, _, rest = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
        words = head.split(b"\n", 1)[0].split()
        status = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
        code, message = error_of(rest.strip()) if status >= 400 else (None, None)
        out.append((status, code, message))

    for part in msg.iter_parts():
        walk(part)
    return out


def error_of(body: bytes) -> tuple[str | None, str | None]:
    """(code, message) of a Dataverse error body (``{"error": {"code", "message"}}``); a body that
    is no JSON gives its first 300 bytes as the message."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return None, body[:300].decode("utf-8", "replace") or None
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return (str(err["code"]) if err.get("code") else None), str(err.get("message") or "") or None
    return None, None


def outcome(rid: str, status: int, code: str | None, message: str | None, redact: Callable[[str], str]) -> WriteResult:
    """One request's result; a cause no retry can fix names a permanent code the sync keeps apart."""
    if 200 <= status < 300:
        return WriteResult(rid, True)
    text = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    low = (message or "").lower()
    if status == 404:
        text = f"OBJECT_NOT_FOUND: {text}"
    elif status == 403:
        text = f"INSUFFICIENT_ACCESS: {text}"
    elif status == 400 and ("outside the valid range" in low or "option set" in low):
        text = f"INVALID_OPTION: {text}"
    elif status == 400 and "invalid property" in low:
        text = f"INVALID_FIELD: {text}"
    return WriteResult(rid, False, redact(text))


def wire_value(f: SchemaField, value: Any) -> Any:
    """A tag value as Dataverse takes it: a choice's label as its option's integer (ValueError
    naming ``INVALID_OPTION`` when the column has no such option), None clears."""
    if value is None or value == "":
        return None
    if f.type in CHOICE_TYPES:
        values: dict[str, int] = f.extra.get("option_values") or {}
        if str(value) not in values:
            raise ValueError(
                f"INVALID_OPTION: {value!r} is no option of the choice column {f.name} "
                f"(options: {', '.join(values) or 'none'}); add it in the table's column settings"
            )
        return values[str(value)]
    if isinstance(value, (list, tuple, set, frozenset)):
        return ";".join(str(v) for v in value)
    if f.type in ("String", "Memo"):
        return str(value)
    return value


def option_values(p: TMapping[str, Any]) -> dict[str, int]:
    """A choice column's options, label -> value, from its metadata (local options first, then global)."""
    out: dict[str, int] = {}
    for source in (p.get("OptionSet"), p.get("GlobalOptionSet")):
        for o in (source or {}).get("Options") or []:
            label = ((o.get("Label") or {}).get("UserLocalizedLabel") or {}).get("Label")
            if label is not None and isinstance(o.get("Value"), int):
                out.setdefault(str(label), int(o["Value"]))
    return out


def property_name(logical_name: str, attribute_type: str) -> str:
    """The Web API property of a column: a lookup's attribute ``<name>`` is read, selected and
    filtered as ``_<name>_value`` (its GUID); every other column under its logical name."""
    return f"_{logical_name}_value" if attribute_type in _LOOKUP_TYPES else logical_name


def schema_field(a: TMapping[str, Any], options: dict[str, int] | None) -> SchemaField:
    """A column under its Web API property name (what a mapping names and ``$select`` takes)."""
    atype = str(a.get("AttributeType") or "String")
    return SchemaField(
        name=property_name(str(a["LogicalName"]), atype),
        type=atype,
        updateable=bool(a.get("IsValidForUpdate")),
        options=list(options or {}) if atype in CHOICE_TYPES else None,
        extra={
            "kind": _KINDS.get(atype, "other"),
            "option_values": options or {},
            "custom": a.get("IsCustomAttribute"),
        },
    )
