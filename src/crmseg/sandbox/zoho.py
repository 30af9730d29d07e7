"""The Zoho CRM (REST API v8) subset the crmseg connector uses, over the sandbox store.

The accounts server, standing in for ``https://accounts.zoho.com`` (and the other data centres):

- ``POST /oauth/v2/token`` with ``grant_type=refresh_token``, ``client_id``, ``client_secret``,
  ``refresh_token`` (query string or form body) -> ``{"access_token", "api_domain", "token_type":
  "Bearer", "expires_in": 3600, "scope"}``; ``api_domain`` is the sandbox's own URL. Refusals
  answer HTTP 200 with ``{"error": "invalid_client"}`` (client id or secret) or
  ``{"error": "invalid_code"}`` (refresh token); more than ``zoho_tokens_per_window`` access
  tokens for one refresh token in 10 minutes: ``{"error": "Access Denied", ...}``, also HTTP 200.

The CRM (``Authorization: Zoho-oauthtoken <token>``; an unknown or expired token: 401
``INVALID_TOKEN``), error bodies ``{"code", "details", "message", "status": "error"}``:

- records of ``Accounts`` (and ``Deals`` when seeded): list, deleted, update
  (:mod:`crmseg.sandbox.zoho_records`)
- ``GET /crm/v8/settings/fields?module=Accounts|Deals``: ``{"fields": [...]}`` with ``api_name``,
  ``data_type``, ``read_only``, ``custom_field``, ``pick_list_values`` (``actual_value``; a deal
  stage's also ``forecast_type``, ``forecast_category`` and ``probability``)
- ``GET /crm/v8/org``: ``{"org": [{"id", "zgid", "domain_name", "iso_code", "mc_status", ...}]}``
- Bulk Read jobs, their status and zipped CSV results (:mod:`crmseg.sandbox.zoho_bulk`)

Limits: API credits per rolling 24 hours (``daily_limit``): a call costs one credit, an update
one per ``zoho_records_per_credit`` records, a page of deleted records two, a Bulk Read job 50;
past half of the allowance every answer carries ``X-API-CREDITS-REMAINING``; a call the credits
left cannot pay gets 429 ``TOO_MANY_REQUESTS``. At most ``zoho_concurrency`` calls at once; one
more gets 429 ``TOO_MANY_REQUESTS`` too. Zoho documents no ``Retry-After``, and none is sent
(injected 429/503 faults neither).

Stats name the endpoints ``token``, ``org``, ``fields``, ``records_page`` (a list call with
``page`` or none), ``records_token`` (with ``page_token``), ``deleted``, ``update``, and for deals
``deals_page``, ``deals_token``, ``deals_deleted``, for Bulk Read ``bulk_read_create``,
``bulk_read_status``, ``bulk_read_result``; ``api_usage`` is the credits used and the
allowance, ``triggers`` how many updated records each automation would have fired for.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from crmseg.sandbox.base import BaseApp, Request, Response, Route, json_response
from crmseg.sandbox.faults import Fault
from crmseg.sandbox.store import Store
from crmseg.sandbox.zoho_bulk import BULK_API, JOB_CREDITS, BulkReads
from crmseg.sandbox.zoho_deals import deal_schema
from crmseg.sandbox.zoho_records import (
    Limits,
    Module,
    deleted_records,
    list_records,
    update_cost,
    update_records,
    zoho_error,
)
from crmseg.sandbox.zoho_schema import field_metadata

API = "/crm/v8"
TOKEN_WINDOW = 600.0  # seconds: the refresh-token grant limit's window
CREDIT_WINDOW = 86_400.0  # seconds: API credits are counted over a rolling 24 hours
#: What a call costs besides one credit (Zoho's credit table): a page of deleted records' ids, 2;
#: a Bulk Read job, 50.
CREDITS = {"deleted": 2, "deals_deleted": 2, "bulk_read_create": JOB_CREDITS}
_MODULE_PATH = re.compile(rf"^{API}/(Accounts|Deals)(/deleted)?$")
_BULK_JOB = re.compile(rf"^{BULK_API}/read/(\d+)(/result)?$")


class CreditWindow:
    """Credits spent over a rolling window (seconds), thread-safe."""

    def __init__(self, clock: Callable[[], float], window: float = CREDIT_WINDOW) -> None:
        self.clock, self.window = clock, window
        self._spent: deque[tuple[float, int]] = deque()
        self._total = 0
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self.window:
            self._total -= self._spent.popleft()[1]

    def used(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return self._total

    def spend(self, credits: int, allowance: int) -> bool:
        """Take ``credits`` when the allowance has them; False (nothing taken) otherwise."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            if self._total + credits > allowance:
                return False
            self._spent.append((now, credits))
            self._total += credits
            return True

    def reset(self) -> None:
        with self._lock:
            self._spent.clear()
            self._total = 0


class ZohoApp(BaseApp):
    """Zoho CRM REST API v8 emulation, with its accounts server's token endpoint."""

    crm = "zoho"
    WRITE_ENDPOINTS = frozenset({"update"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        o = self.options
        if not str(o.zoho_org_id).isdigit():
            raise ValueError(f"sandbox zoho_org_id must be digits, not {o.zoho_org_id!r}")
        if not re.fullmatch(r"[+-]\d{2}:\d{2}", o.zoho_utc_offset):
            raise ValueError(f"sandbox zoho_utc_offset must look like +05:30, not {o.zoho_utc_offset!r}")
        self.modules = {"Accounts": Module("Accounts", self.store, self.schema, "Account_Name")}
        self.credits = CreditWindow(lambda: self.options.clock())
        self.tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.grants: deque[float] = deque()  # when access tokens were issued (the refresh-token limit)
        self.triggers: Counter[str] = Counter()
        self.untriggered = 0
        self.bulk = BulkReads(lambda: self.options.zoho_utc_offset)
        self._auth_lock = threading.Lock()
        self._inflight = 0
        self._inflight_lock = threading.Lock()

    def attach_deals(self, store: Store) -> None:
        super().attach_deals(store)
        self.modules["Deals"] = Module("Deals", store, deal_schema(self.options.multi_currency), "Deal_Name")

    # ------------------------------------------------------------ routing
    def route(self, req: Request) -> Route | None:
        m, path = req.method, req.path.rstrip("/")
        if path == "/oauth/v2/token" and m == "POST":
            return "token", self._token
        if path == f"{API}/org" and m == "GET":
            return "org", self._org
        if path == f"{API}/settings/fields" and m == "GET":
            return "fields", self._fields
        if path == f"{BULK_API}/read" and m == "POST":
            return "bulk_read_create", lambda r: self.bulk.create(self.modules, r, self.now_ms())
        job = _BULK_JOB.match(path)
        if job is not None and m == "GET":
            if job.group(2):
                return "bulk_read_result", lambda r: self.bulk.download(job.group(1), self.options.clock())
            o = self.options
            return "bulk_read_status", lambda r: self.bulk.status(job.group(1), o.bulk_polls, o.zoho_bulk_page)
        found = _MODULE_PATH.match(path)
        if found is None or found.group(1) not in self.modules:
            return None
        module = self.modules[found.group(1)]
        prefix = "records" if module.api_name == "Accounts" else "deals"
        if found.group(2):
            return ("deleted" if prefix == "records" else "deals_deleted"), lambda r: deleted_records(
                module, r, self._limits()
            )
        if m == "GET":
            kind = "token" if req.arg("page_token") is not None else "page"
            return f"{prefix}_{kind}", lambda r: list_records(module, r, self._limits())
        if m == "PUT" and module.api_name == "Accounts":
            return "update", lambda r: self._update(module, r)
        return None

    def not_found(self, req: Request) -> Response:
        return self.error_response(
            zoho_error(404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one")
        )

    def handle(self, req: Request) -> Response:
        """Every CRM call holds one of ``zoho_concurrency`` slots while it runs; none free: 429."""
        if not req.path.startswith("/crm/"):
            return super().handle(req)
        with self._inflight_lock:
            busy = self._inflight >= self.options.zoho_concurrency
            if not busy:
                self._inflight += 1
        if busy:
            route = self.route(req)
            self.stats.call(route[0] if route else "unknown")
            resp = self._too_many("the concurrency limit of the app has been reached; try again after some time")
            self.stats.status(resp.status)
            return resp
        try:
            return super().handle(req)
        finally:
            with self._inflight_lock:
                self._inflight -= 1

    def guard(self, req: Request, endpoint: str) -> Response | None:
        if endpoint == "token":
            return None
        parts = req.header("authorization").split(None, 1)
        token = parts[1].strip() if len(parts) == 2 and parts[0] == "Zoho-oauthtoken" else ""
        with self._auth_lock:
            expiry = self.tokens.get(token)
        if expiry is None or expiry <= self.options.clock():
            return self.error_response(zoho_error(401, "INVALID_TOKEN", "invalid oauth token"))
        if endpoint == "update":
            cost = update_cost(req, self.options.zoho_records_per_credit)
        else:
            cost = CREDITS.get(endpoint, 1)
        if not self.credits.spend(cost, self.options.daily_limit):
            return self._too_many("the API credits of the org for the last 24 hours have been used up")
        return None

    def _too_many(self, why: str) -> Response:
        return self.error_response(zoho_error(429, "TOO_MANY_REQUESTS", f"too many requests: {why}"))

    def decorate(self, resp: Response, endpoint: str) -> None:
        if endpoint == "token":
            return
        allowance = self.options.daily_limit
        used = self.credits.used()
        if used * 2 >= allowance:  # Zoho sends it only past half of the day's credits
            resp.headers["X-API-CREDITS-REMAINING"] = str(max(0, allowance - used))

    def fault_response(self, fault: Fault, req: Request, endpoint: str) -> Response:
        if fault.kind == "429":
            return self._too_many("injected (sandbox fault)")
        if fault.kind == "expired_session":
            return self.error_response(zoho_error(401, "INVALID_TOKEN", "invalid oauth token"))
        if fault.kind == "503":
            return self.error_response(zoho_error(503, "INTERNAL_ERROR", "Service unavailable (sandbox fault)"))
        return self.error_response(zoho_error(500, "INTERNAL_ERROR", "Internal server error occurred. (sandbox fault)"))

    def write_ms(self) -> int:
        """Zoho keeps whole seconds."""
        now = self.now_ms()
        return now - now % 1000

    def extra_stats(self) -> dict[str, Any]:
        return {
            "api_usage": {"used": self.credits.used(), "max": self.options.daily_limit},
            "triggers": {**dict(sorted(self.triggers.items())), "none": self.untriggered},
        }

    def reset_limits(self) -> None:
        self.credits.reset()
        with self._auth_lock:
            self.grants.clear()
        self.triggers.clear()
        self.untriggered = 0
        self.bulk.reset()

    def _limits(self) -> Limits:
        o = self.options
        return Limits(o.zoho_page_limit, o.zoho_token_limit, o.zoho_utc_offset, self.now_ms())

    # ------------------------------------------------------------ accounts server
    def _token(self, req: Request) -> Response:
        form = {k: v[-1] for k, v in req.query.items()}
        if req.body:
            form.update({k: v[-1] for k, v in parse_qs(req.body.decode("utf-8"), keep_blank_values=True).items()})
        c = self.options.credentials
        if form.get("grant_type") != "refresh_token":
            return json_response(200, {"error": "unsupported_grant_type"})
        if form.get("client_id") != c.zoho_client_id or form.get("client_secret") != c.zoho_client_secret:
            return json_response(200, {"error": "invalid_client"})
        if form.get("refresh_token") != c.zoho_refresh_token:
            return json_response(200, {"error": "invalid_code"})
        now = self.options.clock()
        with self._auth_lock:
            while self.grants and self.grants[0] <= now - TOKEN_WINDOW:
                self.grants.popleft()
            if len(self.grants) >= self.options.zoho_tokens_per_window:
                return json_response(
                    200,
                    {
                        "error_description": "You have made too many requests continuously. "
                        "Please try again after some time.",
                        "error": "Access Denied",
                        "status": "failure",
                    },
                )
            self.grants.append(now)
            token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            lifetime = self.options.zoho_token_lifetime
            self.tokens[token] = now + lifetime
        self.stats.login()
        return json_response(
            200,
            {
                "access_token": token,
                "scope": "ZohoCRM.modules.ALL ZohoCRM.settings.fields.READ ZohoCRM.org.READ",
                "api_domain": self.base_url,
                "token_type": "Bearer",
                "expires_in": lifetime,
            },
        )

    # ------------------------------------------------------------ metadata
    def _org(self, req: Request) -> Response:
        o = self.options
        org = {
            "id": o.zoho_org_id,
            "zgid": o.zoho_org_id,
            "company_name": "crmseg sandbox",
            "domain_name": f"org{o.zoho_org_id}",
            "primary_email": "admin@example.com",
            "country": "United States",
            "country_code": "US",
            "currency": "US Dollar - USD",
            "currency_symbol": "$",
            "currency_locale": "en_US",
            "iso_code": "USD",
            "mc_status": bool(o.multi_currency),
            "time_zone": o.zoho_utc_offset,
            "type": "Production",
            "max_per_page": 200,
        }
        return json_response(200, {"org": [org]})

    def _fields(self, req: Request) -> Response:
        name = req.arg("module")
        if not name:
            raise zoho_error(400, "REQUIRED_PARAM_MISSING", "required param is missing", {"param_name": "module"})
        module = self.modules.get(name)
        if module is None:
            raise zoho_error(
                400, "INVALID_MODULE", "the module name given seems to be invalid", {"param_name": "module"}
            )
        org = self.options.zoho_org_id
        return json_response(200, {"fields": [field_metadata(fd, org, name) for fd in module.schema.values()]})

    # ------------------------------------------------------------ writes
    def _update(self, module: Module, req: Request) -> Response:
        def fault(rid: str) -> tuple[str, str] | None:
            f = self.faults.record_fault("update", req.path, rid)
            if f is None:
                return None
            return (
                f.error or "RECORD_LOCKED",
                f.message or "Sorry, you cannot perform this operation as the record is locked.",
            )

        with self.lock:
            resp, out = update_records(module, req, self._limits(), self.write_ms(), fault)
            self.stats.wrote(out.written, out.failed, out.values, out.values, out.names)
            self.triggers.update(out.fired)
            if out.written and not out.fired:
                self.untriggered += out.written
        return resp
