"""Dataverse writes in the Dynamics sandbox: ``PATCH`` of one account and ``$batch`` of them.

- ``PATCH /api/data/v9.2/accounts(<guid>)`` with ``If-Match: *``: 204; 404 when the row is gone.
- ``POST /api/data/v9.2/$batch`` (multipart/mixed, ≤ 1,000 requests; change sets all or nothing;
  ``Prefer: odata.continue-on-error`` goes on past a failed request and answers 200, else the
  batch stops there and answers with that request's status, e.g. 400, as Microsoft documents).
  Only PATCH of accounts inside a batch.

A body's columns are checked against the table (an unknown column or one not valid for update
refuses the request; a value is stored as :func:`crmseg.sandbox.dynamics_schema.store_value`
takes it); only values that differ from the stored ones change a row (and its ``modifiedon``).
The multipart format itself is :mod:`crmseg.sandbox.dynamics_batch`'s.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from crmseg.sandbox.base import ApiError, BaseApp, Request, Response
from crmseg.sandbox.dynamics_batch import (
    BatchSyntaxError,
    SubRequest,
    SubResponse,
    parse_batch,
    render_batch,
)
from crmseg.sandbox.dynamics_odata import ACCOUNT_PATH, API, dv_error, preferences
from crmseg.sandbox.dynamics_schema import store_value
from crmseg.sandbox.values import FieldError

MAX_BATCH = 1000


class DataverseWrites(BaseApp):
    """The Dynamics app's writes: ``PATCH`` of an account, ``$batch`` of them."""

    def _validate(self, body: Any) -> tuple[dict[str, Any] | None, ApiError | None]:
        """The stored values of one PATCH body, or the error it gets."""
        if not isinstance(body, dict):
            return None, dv_error(400, "0x80048d19", "The request body must be a JSON object.")
        stored: dict[str, Any] = {}
        for name, value in body.items():
            if "@" in name:
                continue  # annotations (e.g. @odata.type) are not columns
            fd = self.schema.get(name)
            if fd is None:
                return None, dv_error(
                    400,
                    "0x80060888",
                    f"Invalid property '{name}' was found in entity 'Microsoft.Dynamics.CRM.account'.",
                )
            if not fd.updateable or fd.system:
                return None, dv_error(
                    400, "0x80048d19", f"The attribute '{name}' cannot be updated (IsValidForUpdate is false)."
                )
            try:
                stored[name] = store_value(fd, value)
            except FieldError as exc:
                return None, dv_error(400, exc.code if exc.code.startswith("0x") else "0x80048d19", exc.message)
        return stored, None

    def _prepare(self, sub: SubRequest, endpoint: str) -> tuple[str, dict[str, Any]] | SubResponse:
        """A batch part (or a PATCH) checked: (id, stored values), or its error response."""
        found = ACCOUNT_PATH.match(
            urlsplit(sub.url).path
            if sub.url.startswith("http")
            else sub.url
            if sub.url.startswith("/")
            else f"{API}/{sub.url}"
        )
        if sub.method != "PATCH" or not found:
            return _sub_error(
                dv_error(
                    400,
                    "0x80060888",
                    f"The sandbox's $batch takes PATCH of accounts(<id>) only, not {sub.method} {sub.url}.",
                ),
                sub,
            )
        rid = found.group(1).lower()
        try:
            body = json.loads(sub.body.decode("utf-8") or "null")
        except ValueError:
            return _sub_error(dv_error(400, "0x80048d19", "The request body is not valid JSON."), sub)
        stored, err = self._validate(body)
        if err is not None or stored is None:
            return _sub_error(err or dv_error(400, "0x80048d19", "bad body"), sub)
        rec = self.store.get(rid)
        if rec is None or rec.deleted:
            return _sub_error(dv_error(404, "0x80040217", f"account With Id = {rid} Does Not Exist"), sub)
        fault = self.faults.record_fault(endpoint, f"{API}/accounts({rid})", rid)
        if fault is not None:
            message = fault.message or "injected record failure (sandbox fault)"
            return _sub_error(dv_error(400, fault.error or "0x80040265", message), sub)
        return rid, stored

    def _apply(self, changes: list[tuple[str, dict[str, Any]]]) -> tuple[int, int, list[str]]:
        """Write checked changes (only values that differ bump a row); (values sent, values changed, their columns)."""
        existing = self.store.get_many([rid for rid, _ in changes])
        real = [
            (rid, {k: v for k, v in f.items() if existing[rid].data.get(k) != v})
            for rid, f in changes
            if rid in existing
        ]
        real = [(rid, f) for rid, f in real if f]
        if real:
            self.store.update_many(real, self.write_ms())
        return sum(len(f) for _, f in changes), sum(len(f) for _, f in real), [n for _, f in real for n in f]

    def _patch(self, req: Request, rid: str) -> Response:
        sub = SubRequest("PATCH", f"{API}/accounts({rid})", req.headers, req.body)
        with self.lock:
            prepared = self._prepare(sub, "update")
            if isinstance(prepared, SubResponse):
                self.stats.wrote(0, 1, 0, 0)
                return Response(prepared.status, prepared.body, headers=prepared.headers)
            self.stats.wrote(1, 0, *self._apply([prepared]))
        return Response(204, b"", headers={"OData-EntityId": f"{self.base_url}{API}/accounts({rid})"})

    def _batch(self, req: Request) -> Response:
        try:
            items = parse_batch(req.body, req.header("content-type"))
        except (BatchSyntaxError, UnicodeDecodeError) as exc:
            raise dv_error(400, "0x80048d19", str(exc)) from None
        count = sum(len(i.requests) for i in items)
        if count > MAX_BATCH:
            raise dv_error(
                400, "0x8005f103", f"The number of requests in a batch ({count}) exceeds the limit of {MAX_BATCH}."
            )
        go_on = "odata.continue-on-error" in preferences(req)
        status = 200  # without continue-on-error, the first failure's status (Microsoft's "Handling errors")
        results: list[tuple[bool, list[SubResponse]]] = []
        ok = failed = sent = changed = 0
        names: list[str] = []
        with self.lock:
            for item in items:
                prepared = [self._prepare(sub, "batch") for sub in item.requests]
                errors = [p for p in prepared if isinstance(p, SubResponse)]
                if errors:
                    failed += len(item.requests)
                    results.append((item.changeset, errors[:1]))  # a change set answers its first failure
                    if not go_on:
                        status = errors[0].status
                        break
                    continue
                changes = [p for p in prepared if not isinstance(p, SubResponse)]
                n_sent, n_changed, written = self._apply(changes)
                ok, sent, changed = ok + len(changes), sent + n_sent, changed + n_changed
                names += written
                results.append(
                    (
                        item.changeset,
                        [
                            SubResponse(
                                204,
                                headers={"OData-EntityId": f"{self.base_url}{API}/accounts({rid})"},
                                content_id=sub.content_id,
                            )
                            for sub, (rid, _) in zip(item.requests, changes, strict=True)
                        ],
                    )
                )
            self.stats.wrote(ok, failed, sent, changed, names)
        body, ctype = render_batch(results)
        return Response(status, body, content_type=ctype)


def _sub_error(err: ApiError, sub: SubRequest) -> SubResponse:
    return SubResponse(err.status, json.dumps(err.body).encode("utf-8"), dict(err.headers), sub.content_id)
