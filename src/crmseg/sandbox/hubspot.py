"""The HubSpot CRM v3 subset the crmseg connector uses, over the sandbox store.

- ``GET  /crm/v3/objects/companies?limit=≤100&properties=a,b&after=CURSOR``
- ``GET|PATCH /crm/v3/objects/companies/{id}``
- ``POST /crm/v3/objects/companies/search``: filterGroups (OR of ANDed filters), one sort,
  ``limit`` ≤ 200, ``after``; at most ``search_cap`` (10,000) results per query
  (``after`` ≥ the cap → 400)
- ``POST /crm/v3/objects/companies/batch/update``: ≤ 100 inputs; 200 when all succeed,
  207 with ``errors`` beside ``results`` otherwise
- properties and property-group endpoints (see ``hs_properties``)
- ``GET  /account-info/v3/details``: the portal's identity (``portalId`` = the configured ``portal_id``;
  ``additionalCurrencies`` non-empty when ``options.multi_currency``)

Deals, when seeded (``attach_deals``; stats name each endpoint ``deals_*``):

- ``GET  /crm/v3/objects/deals?limit=≤100&after=&properties=&associations=companies``: the
  companies inline, ``{"associations": {"companies": {"results": [{"id", "type"}]}}}`` with
  ``deal_to_company`` (primary) and ``deal_to_company_unlabeled`` entries (a primary company
  appears under both); archived deals only with ``archived=true``; ``GET .../deals/{id}`` alike
- ``POST /crm/v3/objects/deals/search``: as for companies (≤ 200 a page, the search cap),
  no associations in the results
- ``POST /crm/v4/associations/deals/companies/batch/read``: ≤ 1,000 ``inputs``; each result
  ``{"from": {"id"}, "to": [{"toObjectId", "associationTypes": [{"category", "typeId", "label"}]}]}``
  (primary type id 5 besides unlabeled 341); deals without companies answer 207 with ``errors``
- ``GET  /crm/v3/pipelines/deals``: the default pipeline, stages with ``metadata.isClosed`` /
  ``metadata.probability`` (strings, as HubSpot sends them)
- ``GET  /crm/v3/properties/deals``

Auth is ``Authorization: Bearer <token>``. Calls are limited per sliding window
(``rate_limit`` per ``rate_window`` s; search: ``search_rate_limit`` per ``search_window`` s)
and per day; a refused call gets 429 with HubSpot's RATE_LIMIT body and ``Retry-After``.
Every answer carries the ``X-HubSpot-RateLimit-*`` headers.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from crmseg.sandbox import deals as seeded
from crmseg.sandbox import hs_properties as props
from crmseg.sandbox.base import BaseApp, Request, Response, Route, json_response
from crmseg.sandbox.faults import Fault
from crmseg.sandbox.hs_properties import hs_error
from crmseg.sandbox.hs_search import run_search
from crmseg.sandbox.ratelimit import SlidingWindow, retry_after_header
from crmseg.sandbox.schema import FieldDef, hubspot_deal_schema
from crmseg.sandbox.store import Record, Store
from crmseg.sandbox.values import FieldError, hs_datetime, hs_text

BASE = "/crm/v3/objects/companies"
PROPS = "/crm/v3/properties/companies"
ALWAYS = ("createdate", "hs_lastmodifieddate", "hs_object_id")
DEFAULT_PROPS = ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name")
MAX_BATCH = 100
DEALS = "/crm/v3/objects/deals"
DEAL_DEFAULT_PROPS = (
    "amount",
    "closedate",
    "createdate",
    "dealname",
    "dealstage",
    "hs_lastmodifieddate",
    "hs_object_id",
    "pipeline",
)
MAX_ASSOCIATION_BATCH = 1000
SEARCH_ENDPOINTS = frozenset({"search", "deals_search"})
_STAMP = "2026-01-01T00:00:00Z"  # creation/update time of the built-in pipeline and stages


class HsType:
    """One object type the app serves: its records, properties and names."""

    def __init__(
        self,
        name: str,
        label: str,
        store: Store,
        schema: Callable[[], dict[str, FieldDef]],
        default_props: tuple[str, ...],
        text_props: tuple[str, ...],
    ) -> None:
        self.name, self.label, self.store = name, label, store
        self._schema = schema
        self.default_props, self.text_props = default_props, text_props

    @property
    def schema(self) -> dict[str, FieldDef]:
        """The current properties (companies' change as properties are created)."""
        return self._schema()


class HubSpotApp(BaseApp):
    """HubSpot CRM v3 emulation."""

    crm = "hubspot"
    WRITE_ENDPOINTS = frozenset(
        {
            "update",
            "batch_update",
            "property_create",
            "property_update",
            "property_group_create",
            "property_group_update",
        }
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        o = self.options
        self.window = SlidingWindow(o.rate_limit, o.rate_window)
        self.search_window = SlidingWindow(o.search_rate_limit, o.search_window)
        self.daily_used = 0
        self._daily_lock = threading.Lock()
        if isinstance(o.portal_id, bool) or not isinstance(o.portal_id, int) or o.portal_id <= 0:
            raise ValueError(f"sandbox portal_id must be a positive integer, not {o.portal_id!r}")
        self.groups = props.initial_groups(self.schema)
        self.companies = HsType(
            "companies", "COMPANY", self.store, lambda: self.schema, DEFAULT_PROPS, ("name", "domain")
        )
        self.deal_type: HsType | None = None

    def attach_deals(self, store: Store) -> None:
        """Serve deals from ``store``: list, search, v4 company associations, pipelines, properties."""
        super().attach_deals(store)
        schema = hubspot_deal_schema()
        self.deal_type = HsType("deals", "DEAL", store, lambda: schema, DEAL_DEFAULT_PROPS, ("dealname",))

    # ------------------------------------------------------------ routing
    def route(self, req: Request) -> Route | None:
        m, path = req.method, req.path.rstrip("/")
        if path == BASE and m == "GET":
            return "list", lambda r: self._list(r, self.companies)
        if path == "/account-info/v3/details" and m == "GET":
            return "account_info", self._account_info
        if path == f"{BASE}/search" and m == "POST":
            return "search", lambda r: run_search(self, r, self.companies)
        if self.deal_type is not None and (
            path.startswith(("/crm/v3/objects/deals", "/crm/v4/associations/deals"))
            or path in ("/crm/v3/pipelines/deals", "/crm/v3/properties/deals")
        ):
            return self._deal_route(m, path, self.deal_type)
        if path == f"{BASE}/batch/update" and m == "POST":
            return "batch_update", self._batch_update
        found = re.fullmatch(rf"{BASE}/([^/]+)", path)
        if found and m in ("GET", "PATCH"):
            rid = found.group(1)
            if m == "GET":
                return "get", lambda r: self._get(r, rid)
            return "update", lambda r: self._update(r, rid)
        if path == f"{PROPS}/groups" and m == "GET":
            return "property_groups_list", lambda r: props.list_groups(self, r)
        if path == f"{PROPS}/groups" and m == "POST":
            return "property_group_create", lambda r: props.create_group(self, r)
        found = re.fullmatch(rf"{PROPS}/groups/([^/]+)", path)
        if found and m in ("GET", "PATCH"):
            group = found.group(1)
            if m == "GET":
                return "property_group_get", lambda r: props.get_group(self, r, group)
            return "property_group_update", lambda r: props.update_group(self, r, group)
        if path == PROPS and m == "GET":
            return "properties_list", lambda r: props.list_properties(self, r)
        if path == PROPS and m == "POST":
            return "property_create", lambda r: props.create_property(self, r)
        found = re.fullmatch(rf"{PROPS}/([^/]+)", path)
        if found and m in ("GET", "PATCH"):
            name = found.group(1)
            if m == "GET":
                return "property_get", lambda r: props.get_property(self, r, name)
            return "property_update", lambda r: props.update_property(self, r, name)
        return None

    def _deal_route(self, m: str, path: str, deals: HsType) -> Route | None:
        if path == DEALS and m == "GET":
            return "deals_list", lambda r: self._list(r, deals)
        if path == f"{DEALS}/search" and m == "POST":
            return "deals_search", lambda r: run_search(self, r, deals)
        if path == "/crm/v4/associations/deals/companies/batch/read" and m == "POST":
            return "deals_associations_batch_read", lambda r: self._deal_companies(r, deals)
        if path == "/crm/v3/pipelines/deals" and m == "GET":
            return "deals_pipelines", self._pipelines
        if path == "/crm/v3/properties/deals" and m == "GET":
            return "deals_properties_list", lambda r: json_response(
                200, {"results": [props.property_json(fd) for fd in deals.schema.values()]}
            )
        found = re.fullmatch(rf"{DEALS}/([^/]+)", path)
        if found and m == "GET":
            return "deals_get", lambda r: self._get(r, found.group(1), deals)
        return None

    def not_found(self, req: Request) -> Response:
        return self.error_response(hs_error(404, "OBJECT_NOT_FOUND", f"No route for {req.method} {req.path}"))

    def guard(self, req: Request, endpoint: str) -> Response | None:
        parts = req.header("authorization").split(None, 1)
        token = parts[1].strip() if len(parts) == 2 and parts[0].lower() == "bearer" else ""
        if token != self.options.credentials.hubspot_token:
            return self.error_response(
                hs_error(
                    401,
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
                    "oauth-overview",
                )
            )
        with self._daily_lock:
            if self.daily_used >= self.options.daily_limit:
                return self._rate_limited("DAILY", "You have reached your daily limit.", 3600.0)
        window = self.search_window if endpoint in SEARCH_ENDPOINTS else self.window
        allowed, _, wait = window.acquire()
        if not allowed:
            if endpoint in SEARCH_ENDPOINTS:
                return self._rate_limited("SECONDLY", "You have reached your secondly limit.", wait)
            return self._rate_limited("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.", wait)
        with self._daily_lock:
            self.daily_used += 1
        return None

    def _account_info(self, req: Request) -> Response:
        """The account-info API's details of the portal the token belongs to."""
        return json_response(
            200,
            {
                "portalId": self.options.portal_id,
                "accountType": "STANDARD",
                "timeZone": "Etc/UTC",
                "companyCurrency": seeded.CORPORATE_CURRENCY,
                "additionalCurrencies": [c for c in seeded.CURRENCY_RATES if c != seeded.CORPORATE_CURRENCY]
                if self.options.multi_currency
                else [],
                "utcOffset": "+00:00",
                "utcOffsetMilliseconds": 0,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            },
        )

    def _rate_limited(self, policy: str, message: str, wait: float) -> Response:
        return json_response(
            429,
            {
                "status": "error",
                "message": message,
                "errorType": "RATE_LIMIT",
                "correlationId": "00000000-0000-4000-8000-000000000429",
                "policyName": policy,
                "groupName": "publicapi:private-app:sandbox",
            },
            {"Retry-After": retry_after_header(wait)},
        )

    def decorate(self, resp: Response, endpoint: str) -> None:
        window = self.search_window if endpoint in SEARCH_ENDPOINTS else self.window
        resp.headers.update(
            {
                "X-HubSpot-RateLimit-Max": str(window.limit),
                "X-HubSpot-RateLimit-Remaining": str(window.remaining()),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window.window * 1000)),
                "X-HubSpot-RateLimit-Daily": str(self.options.daily_limit),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.options.daily_limit - self.daily_used)),
            }
        )

    def fault_response(self, fault: Fault, req: Request, endpoint: str) -> Response:
        retry = fault.retry_after if fault.retry_after is not None else self.options.default_retry_after
        if fault.kind == "429":
            policy = "SECONDLY" if endpoint in SEARCH_ENDPOINTS else "TEN_SECONDLY_ROLLING"
            return self._rate_limited(policy, f"You have reached your {policy.lower()} limit. (sandbox fault)", retry)
        if fault.kind == "expired_session":
            return self.error_response(
                hs_error(
                    401,
                    "EXPIRED_AUTHENTICATION",
                    "The OAuth token used to make this call expired 0 second(s) ago. (sandbox fault)",
                )
            )
        if fault.kind == "503":
            err = self.error_response(hs_error(503, "SERVICE_UNAVAILABLE", "Service unavailable (sandbox fault)"))
            err.headers["Retry-After"] = retry_after_header(retry)
            return err
        return self.error_response(hs_error(500, "INTERNAL_ERROR", "internal error (sandbox fault)"))

    def extra_stats(self) -> dict[str, Any]:
        return {
            "api_usage": {"used": self.daily_used, "max": self.options.daily_limit},
            "rate_window": {"limit": self.window.limit, "remaining": self.window.remaining()},
        }

    def reset_limits(self) -> None:
        with self._daily_lock:
            self.daily_used = 0
        self.window.reset()
        self.search_window.reset()

    def options_changed(self) -> None:
        o = self.options
        self.window.limit, self.window.window = o.rate_limit, o.rate_window
        self.search_window.limit, self.search_window.window = o.search_rate_limit, o.search_window

    # ------------------------------------------------------------ rendering
    def value(self, rec: Record, fd: FieldDef) -> str | None:
        """A property's value as HubSpot returns it (a string or null)."""
        if fd.system == "id":
            return rec.id
        if fd.system == "created":
            return hs_datetime(rec.created_ms)
        if fd.system == "modified":
            return hs_datetime(rec.modified_ms)
        return hs_text(fd.kind, rec.data.get(fd.name))

    def render(self, rec: Record, names: list[str], obj: HsType | None = None) -> dict[str, Any]:
        """A SimplePublicObject for ``rec`` with the requested properties (unknown names are ignored)."""
        schema = (obj or self.companies).schema
        wanted = list(dict.fromkeys([*names, *ALWAYS]))
        properties = {n: self.value(rec, schema[n]) for n in wanted if n in schema}
        out = {
            "id": rec.id,
            "properties": properties,
            "createdAt": hs_datetime(rec.created_ms),
            "updatedAt": hs_datetime(rec.modified_ms),
            "archived": rec.deleted,
        }
        if rec.deleted:
            out["archivedAt"] = hs_datetime(rec.modified_ms)
        return out

    def requested(self, raw: list[str] | None, obj: HsType | None = None) -> list[str]:
        """Property names from repeated and/or comma-separated ``properties`` values."""
        if not raw:
            return list((obj or self.companies).default_props)
        return [p.strip() for item in raw for p in str(item).split(",") if p.strip()]

    def with_companies(self, out: dict[str, Any], rec: Record) -> dict[str, Any]:
        """Add a deal's companies the way v3 reads give associations inline (nothing when none)."""
        results = []
        for cid, primary in rec.data.get(seeded.HS_COMPANIES_KEY) or []:
            if primary:
                results.append({"id": str(cid), "type": "deal_to_company"})
            results.append({"id": str(cid), "type": "deal_to_company_unlabeled"})
        if results:
            out["associations"] = {"companies": {"results": results}}
        return out

    # ------------------------------------------------------------ reads
    def _list(self, req: Request, obj: HsType) -> Response:
        try:
            limit = int(req.arg("limit") or 10)
        except ValueError:
            raise hs_error(400, "VALIDATION_ERROR", "limit must be an integer") from None
        if not 1 <= limit <= 100:
            raise hs_error(400, "VALIDATION_ERROR", f"limit must be between 1 and 100 (got {limit})")
        after = req.arg("after") or ""
        if after and not after.isdigit():
            raise hs_error(400, "VALIDATION_ERROR", f"Invalid paging cursor after={after!r}")
        names = self.requested(req.query.get("properties"), obj)
        archived = (req.arg("archived") or "").lower() == "true"
        inline = obj is self.deal_type and "companies" in self.requested(req.query.get("associations"), obj)
        where = "deleted = 1" if archived else "deleted = 0"
        params: list[Any] = []
        if after:
            where, params = f"{where} AND CAST(id AS INTEGER) >= ?", [int(after)]
        ids = obj.store.select_ids(where, params, "CAST(id AS INTEGER)", limit + 1)
        found = obj.store.get_many(ids[:limit])
        results = [self.render(found[i], names, obj) for i in ids[:limit] if i in found]
        if inline:
            results = [self.with_companies(out, found[out["id"]]) for out in results]
        body: dict[str, Any] = {"results": results}
        if len(ids) > limit:
            nxt = str(int(ids[limit - 1]) + 1)
            link = f"{self.base_url}/crm/v3/objects/{obj.name}?limit={limit}&after={nxt}&properties={','.join(names)}"
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return json_response(200, body)

    def _get(self, req: Request, rid: str, obj: HsType | None = None) -> Response:
        obj = obj or self.companies
        rec = obj.store.get(rid)
        if rec is None or rec.deleted:
            raise hs_error(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.")
        out = self.render(rec, self.requested(req.query.get("properties"), obj), obj)
        if obj is self.deal_type and "companies" in self.requested(req.query.get("associations"), obj):
            out = self.with_companies(out, rec)
        return json_response(200, out)

    # ------------------------------------------------------------ deals
    def _deal_companies(self, req: Request, deals: HsType) -> Response:
        """``POST /crm/v4/associations/deals/companies/batch/read``."""
        started = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        try:
            body = req.json()
        except ValueError:
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON") from None
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and i.get("id") not in (None, "") for i in inputs
        ):
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: 'inputs' must be a list of {\"id\": ...}")
        if len(inputs) > MAX_ASSOCIATION_BATCH:
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                f"Batch input too large: {len(inputs)} inputs; the maximum is {MAX_ASSOCIATION_BATCH}",
            )
        ids = list(dict.fromkeys(str(i["id"]) for i in inputs))
        found = deals.store.get_many(ids)
        results, missing = [], []
        for rid in ids:
            rec = found.get(rid)
            companies = rec.data.get(seeded.HS_COMPANIES_KEY) if rec is not None and not rec.deleted else None
            if not companies:
                missing.append(rid)
                continue
            to = []
            for cid, primary in companies:
                types = [{"category": "HUBSPOT_DEFINED", "typeId": seeded.HS_UNLABELED_TYPE, "label": None}]
                if primary:
                    types.insert(
                        0, {"category": "HUBSPOT_DEFINED", "typeId": seeded.HS_PRIMARY_TYPE, "label": "Primary"}
                    )
                to.append({"toObjectId": int(cid), "associationTypes": types})
            results.append({"from": {"id": rid}, "to": to})
        done = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": done}
        if not missing:
            return json_response(200, out)
        out["numErrors"] = len(missing)
        out["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                "message": f"No company is associated with deal {rid}.",
                "context": {"fromObjectId": [rid]},
                "links": {},
                "errors": [],
            }
            for rid in missing
        ]
        return json_response(207, out)

    def _pipelines(self, req: Request) -> Response:
        """``GET /crm/v3/pipelines/deals``: the default pipeline and its stages."""
        stages = [
            {
                "id": sid,
                "label": label,
                "displayOrder": i,
                "metadata": {"isClosed": "true" if closed else "false", "probability": str(prob)},
                "createdAt": _STAMP,
                "updatedAt": _STAMP,
                "archived": False,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for i, (sid, label, prob, closed) in enumerate(seeded.HS_STAGES)
        ]
        pipeline = {
            "id": seeded.HS_PIPELINE[0],
            "label": seeded.HS_PIPELINE[1],
            "displayOrder": 0,
            "stages": stages,
            "createdAt": _STAMP,
            "updatedAt": _STAMP,
            "archived": False,
        }
        return json_response(200, {"results": [pipeline]})

    # ------------------------------------------------------------ writes
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
