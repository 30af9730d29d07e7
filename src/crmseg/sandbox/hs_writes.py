"""HubSpot writes in the HubSpot sandbox: ``PATCH`` of one company and batch updates of them.

- ``PATCH /crm/v3/objects/companies/{id}``: ``{"properties": {...}}``; 404 when the company is gone
- ``POST /crm/v3/objects/companies/batch/update``: ≤ 100 inputs (ids unique); 200 when all
  succeed, 207 with ``errors`` beside ``results`` otherwise (the missing ids in one
  ``OBJECT_NOT_FOUND`` error)

Values are checked as :func:`crmseg.sandbox.hs_properties.check_value` does (a failing property
fails its record, ``VALIDATION_ERROR`` naming each); only values that differ from the stored ones
change a record (and its ``hs_lastmodifieddate``). Injected record faults fail single records.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crmseg.sandbox import hs_properties as props
from crmseg.sandbox.base import Request, Response, json_response
from crmseg.sandbox.hs_objects import HubSpotObjects
from crmseg.sandbox.hs_properties import hs_error
from crmseg.sandbox.store import Record
from crmseg.sandbox.values import FieldError

MAX_BATCH = 100


class HubSpotWrites(HubSpotObjects):
    """The HubSpot app's writes: ``PATCH`` of a company, batch update of them."""

    def apply(
        self, items: list[tuple[str, dict[str, Any]]], endpoint: str, path: str
    ) -> list[tuple[str, Record | None, tuple[str, str, list[tuple[str, str, str]]] | None]]:
        """Validate and write; per item (id, updated record | None, error (category, message, details) | None)."""
        with self.lock:
            existing = self.store.get_many([i for i, _ in items])
            out: list[Any] = []
            changes: list[tuple[str, dict[str, Any]]] = []
            n_fields = n_changed = 0
            for rid, properties in items:
                if rid not in existing:
                    out.append((rid, None, ("OBJECT_NOT_FOUND", "not found", [])))
                    continue
                fault = self.faults.record_fault(endpoint, path, rid)
                if fault is not None:
                    msg = fault.message or "injected record failure (sandbox fault)"
                    out.append((rid, None, (fault.error or "VALIDATION_ERROR", msg, [])))
                    continue
                stored: dict[str, Any] = {}
                errors: list[tuple[str, str, str]] = []
                for name, value in properties.items():
                    try:
                        stored[name] = props.check_value(self.schema.get(name), name, value)
                    except FieldError as exc:
                        errors.append((exc.code, exc.message, name))
                if errors:
                    out.append((rid, None, ("VALIDATION_ERROR", props.validation_message(errors), errors)))
                    continue
                old = existing[rid].data
                changed = {k: v for k, v in stored.items() if old.get(k) != v}
                n_fields += len(stored)
                n_changed += len(changed)
                if changed:
                    changes.append((rid, changed))
                out.append((rid, existing[rid], None))
            updated = {r.id: r for r in self.store.update_many(changes, self.write_ms()) if r} if changes else {}
            ok = sum(1 for _, _, err in out if err is None)
            self.stats.wrote(
                ok, len(out) - ok, n_fields, n_changed, [name for _, written in changes for name in written]
            )
            return [(rid, updated.get(rid, rec), err) for rid, rec, err in out]

    def _properties_body(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: 'properties' must be an object")
        return body["properties"]

    def _update(self, req: Request, rid: str) -> Response:
        try:
            properties = self._properties_body(req.json())
        except ValueError:
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON") from None
        _, rec, err = self.apply([(rid, properties)], "update", req.path)[0]
        if err is not None:
            category, message, _ = err
            if category == "OBJECT_NOT_FOUND":
                raise hs_error(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.")
            raise hs_error(400, category, message)
        assert rec is not None
        return json_response(200, self.render(rec, list(properties)))

    def _batch_update(self, req: Request) -> Response:
        started = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        try:
            body = req.json()
        except ValueError:
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON") from None
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: 'inputs' must be a non-empty list")
        if len(inputs) > MAX_BATCH:
            raise hs_error(
                400, "VALIDATION_ERROR", f"Batch input too large: {len(inputs)} inputs; the maximum is {MAX_BATCH}"
            )
        items: list[tuple[str, dict[str, Any]]] = []
        for item in inputs:
            if not isinstance(item, dict) or item.get("id") in (None, ""):
                raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: every input needs an 'id'")
            items.append((str(item["id"]), self._properties_body(item)))
        dupes = sorted({i for i, _ in items if [j for j, _ in items].count(i) > 1})
        if dupes:
            raise hs_error(400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {dupes}. IDs must be unique")
        outcome = self.apply(items, "batch_update", req.path)
        results, errors, missing = [], [], []
        for (rid, properties), (_, rec, err) in zip(items, outcome, strict=True):
            if err is None and rec is not None:
                results.append(self.render(rec, list(properties)))
            elif err is not None and err[0] == "OBJECT_NOT_FOUND":
                missing.append(rid)
            elif err is not None:
                category, message, details = err
                errors.append(
                    {
                        "status": "error",
                        "category": category,
                        "message": message,
                        "context": {"ids": [rid]},
                        "links": {},
                        "errors": [
                            {"message": m, "code": c, "in": p, "context": {"propertyName": [p]}} for c, m, p in details
                        ],
                    }
                )
        if missing:
            errors.insert(
                0,
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some "
                    "COMPANY objects, they may be deleted or not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                    "links": {},
                    "errors": [],
                },
            )
        done = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "requestedAt": started,
            "completedAt": done,
        }
        if errors:
            out.update(numErrors=len(items) - len(results), errors=errors)
            return json_response(207, out)
        return json_response(200, out)
