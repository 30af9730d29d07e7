"""Salesforce writes in the sandbox: sObject Collections update, single-record PATCH, and the
shared validation every write path (including Bulk API 2.0) goes through.

Per record: malformed id → MALFORMED_ID, unknown ``001`` id → ENTITY_IS_DELETED, other
prefixes → INVALID_CROSS_REFERENCE_KEY, read-only field → INVALID_FIELD_FOR_INSERT_UPDATE,
a value outside a restricted picklist → INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, a value of
the wrong type → INVALID_TYPE_ON_FIELD_IN_RECORD; ``allOrNone`` rolls back the others with
ALL_OR_NONE_OPERATION_ROLLED_BACK. A field that does not exist refuses the whole request
(400 INVALID_FIELD), like Salesforce's JSON deserialization does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crmseg.sandbox.base import ApiError, Request, Response, json_response
from crmseg.sandbox.schema import lookup
from crmseg.sandbox.seed import SF_ID, sf_id18
from crmseg.sandbox.store import Record
from crmseg.sandbox.values import FieldError, coerce

if TYPE_CHECKING:
    from crmseg.sandbox.salesforce import SalesforceApp

MAX_COLLECTION = 200


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> ApiError:
    """An ApiError with Salesforce's error list body."""
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return ApiError(status, [body])


@dataclass
class RecordResult:
    """Outcome of one record of a write: ``errors`` holds (statusCode, message, fields)."""

    id: str
    ok: bool
    errors: list[tuple[str, str, list[str]]]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "success": self.ok,
            "errors": [{"statusCode": c, "message": m, "fields": f} for c, m, f in self.errors],
        }
        if not self.ok and not SF_ID.match(self.id or ""):
            out.pop("id")
        return out


def check_fields(app: SalesforceApp, names: list[str]) -> None:
    """Refuse the whole request when a field does not exist (like JSON deserialization does)."""
    for name in names:
        if name != "attributes" and name.lower() != "id" and lookup(app.schema, name) is None:
            raise sf_error(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {app.object}")


def apply_updates(
    app: SalesforceApp, items: list[tuple[str, dict[str, Any]]], endpoint: str, path: str, all_or_none: bool = False
) -> list[RecordResult]:
    """Validate and apply updates; one result per item, in order."""
    with app.lock:
        ids = [sf_id18(i) if SF_ID.match(i or "") else i for i, _ in items]
        existing = app.store.get_many([i for i in ids if i])
        results: list[RecordResult] = []
        changes: list[tuple[str, dict[str, Any]]] = []
        n_fields = n_changed = 0
        for rid, (_, fields) in zip(ids, items, strict=True):
            errors, stored = _validate(app, rid, fields, existing, endpoint, path)
            results.append(RecordResult(rid, not errors, errors))
            if not errors:
                changes.append((rid, stored))
                n_fields += len(stored)
                old = existing[rid].data
                n_changed += sum(1 for k, v in stored.items() if old.get(k) != v)
        if all_or_none and any(not r.ok for r in results):
            for r in results:
                if r.ok:
                    r.ok = False
                    r.errors = [
                        (
                            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                            (
                                "Record rolled back because not all "
                                "records were valid and the request was using AllOrNone header"
                            ),
                            [],
                        )
                    ]
            changes, n_fields, n_changed = [], 0, 0
        if changes:
            app.store.update_many(changes, app.write_ms())
        ok = sum(1 for r in results if r.ok)
        app.stats.wrote(
            ok, len(results) - ok, n_fields, n_changed, [name for _, written in changes for name in written]
        )
        return results


def _validate(
    app: SalesforceApp, rid: str, fields: dict[str, Any], existing: dict[str, Record], endpoint: str, path: str
) -> tuple[list[tuple[str, str, list[str]]], dict[str, Any]]:
    if not rid:
        return [("MISSING_ARGUMENT", "Id not specified in an update call", [])], {}
    if not SF_ID.match(rid):
        return [("MALFORMED_ID", f"malformed id {rid}", [])], {}
    if rid not in existing:
        if rid.startswith("001"):
            return [("ENTITY_IS_DELETED", "entity is deleted", [])], {}
        return [("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])], {}
    fault = app.faults.record_fault(endpoint, path, rid)
    if fault is not None:
        code = fault.error or "UNABLE_TO_LOCK_ROW"
        msg = fault.message or "unable to obtain exclusive access to this record or 1 records (sandbox fault)"
        return [(code, msg, [])], {}
    errors: list[tuple[str, str, list[str]]] = []
    stored: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "attributes" or name.lower() == "id":
            continue
        fd = lookup(app.schema, name)
        if fd is None:
            errors.append(("INVALID_FIELD", f"No such column '{name}' on sobject of type {app.object}", [name]))
            continue
        if not fd.updateable:
            errors.append(
                (
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    (
                        f"Unable to create/update fields: {fd.name}. "
                        "Please check the security settings of this field and verify that it is read/write "
                        "for your profile or permission set."
                    ),
                    [fd.name],
                )
            )
            continue
        try:
            stored[fd.name] = coerce(
                fd.kind, value, label=fd.label, options=fd.options, restricted=fd.restricted, length=fd.length
            )
        except FieldError as exc:
            errors.append((exc.code, exc.message, [fd.name]))
    return errors, stored


def composite_update(app: SalesforceApp, req: Request) -> Response:
    try:
        body = req.json()
    except ValueError as exc:
        raise sf_error(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise sf_error(400, "INVALID_FIELD", "The request body must contain a 'records' list")
    records = body["records"]
    if len(records) > MAX_COLLECTION:
        raise sf_error(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call",
        )
    items: list[tuple[str, dict[str, Any]]] = []
    for rec in records:
        if not isinstance(rec, dict):
            raise sf_error(400, "JSON_PARSER_ERROR", "each record must be a JSON object")
        attrs = rec.get("attributes") or {}
        if str(attrs.get("type", "")).lower() != app.object.lower():
            raise sf_error(
                400,
                "INVALID_TYPE",
                f"sObject type is required and must be '{app.object}' for every record (attributes.type)",
            )
        check_fields(app, list(rec))
        rid = next((str(v) for k, v in rec.items() if k.lower() == "id" and v), "")
        items.append((rid, rec))
    results = apply_updates(app, items, "composite_update", req.path, bool(body.get("allOrNone")))
    return json_response(200, [r.as_json() for r in results])


def update_record(app: SalesforceApp, req: Request, rid: str) -> Response:
    try:
        body = req.json()
    except ValueError as exc:
        raise sf_error(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None
    if not isinstance(body, dict):
        raise sf_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    check_fields(app, list(body))
    result = apply_updates(app, [(rid, body)], "sobject_update", req.path)[0]
    if result.ok:
        return Response(204)
    code, msg, fields = result.errors[0]
    if code in ("ENTITY_IS_DELETED", "MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY"):
        raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    raise sf_error(400, code, msg, fields)
