"""The HubSpot CRM v3 subset the crmseg connector uses, over the sandbox store.

- ``GET  /crm/v3/objects/companies?limit=≤100&properties=a,b&after=CURSOR`` and
  ``GET .../{id}``; with deals seeded (``attach_deals``), the deals alike, their company
  associations (v4) and pipeline: :class:`crmseg.sandbox.hs_reads.HubSpotReads`
- ``PATCH /crm/v3/objects/companies/{id}`` and ``POST /crm/v3/objects/companies/batch/update``
  (≤ 100 inputs; 200 when all succeed, 207 with ``errors`` beside ``results`` otherwise):
  :class:`crmseg.sandbox.hs_writes.HubSpotWrites`
- ``POST /crm/v3/objects/{companies,deals}/search``: filterGroups (OR of ANDed filters), one
  sort, ``limit`` ≤ 200, ``after``; at most ``search_cap`` (10,000) results per query
  (``after`` ≥ the cap → 400): :mod:`crmseg.sandbox.hs_search`
- properties and property-group endpoints, ``GET /crm/v3/properties/deals``: :mod:`crmseg.sandbox.hs_properties`
- ``GET  /account-info/v3/details``: the portal's identity (``portalId`` = the configured ``portal_id``;
  ``additionalCurrencies`` non-empty when ``options.multi_currency``)

Records are rendered as :class:`crmseg.sandbox.hs_objects.HubSpotObjects` does; stats name
each deal endpoint ``deals_*``.

Auth is ``Authorization: Bearer <token>``. Calls are limited per sliding window
(``rate_limit`` per ``rate_window`` s; search: ``search_rate_limit`` per ``search_window`` s)
and per day; a refused call gets 429 with HubSpot's RATE_LIMIT body and ``Retry-After``.
Every answer carries the ``X-HubSpot-RateLimit-*`` headers.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from crmseg.sandbox import hs_properties as props
from crmseg.sandbox.base import Request, Response, Route, json_response
from crmseg.sandbox.deal_setup import CORPORATE_CURRENCY, CURRENCY_RATES
from crmseg.sandbox.faults import Fault
from crmseg.sandbox.hs_objects import HsType
from crmseg.sandbox.hs_properties import hs_error
from crmseg.sandbox.hs_reads import HubSpotReads
from crmseg.sandbox.hs_search import run_search
from crmseg.sandbox.hs_writes import HubSpotWrites
from crmseg.sandbox.ratelimit import SlidingWindow, retry_after_header

BASE = "/crm/v3/objects/companies"
PROPS = "/crm/v3/properties/companies"
DEALS = "/crm/v3/objects/deals"
SEARCH_ENDPOINTS = frozenset({"search", "deals_search"})


class HubSpotApp(HubSpotReads, HubSpotWrites):
    """HubSpot CRM v3 emulation.

    The handlers come from the mixins (reads, writes; each a :class:`HubSpotObjects` with the
    endpoints of its module) and the search and property modules; this class routes to them and
    adds the bearer-token guard, the rate limits, faults and stats."""

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
                "companyCurrency": CORPORATE_CURRENCY,
                "additionalCurrencies": [c for c in CURRENCY_RATES if c != CORPORATE_CURRENCY]
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
