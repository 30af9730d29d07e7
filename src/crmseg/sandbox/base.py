"""HTTP plumbing shared by the sandbox CRMs: request/response types, the request
handler, options, and ``BaseApp`` (routing, faults, stats and control endpoints).

Control endpoints (never counted as API calls, no auth):

- ``GET  /__sandbox/stats``          counters, API usage, active faults
- ``POST /__sandbox/stats/reset``    zero counters, API usage and rate windows
- ``POST /__sandbox/faults``         add faults (see ``faults``); ``DELETE`` clears them
- ``GET  /__sandbox/records/<id>``   a stored record as is
- ``POST /__sandbox/records``         out-of-band edits: ``{"updates": [{"id", "fields"}], "touch": [ids]}``
- ``GET  /__sandbox/ids``             ``{"id_map": {seed id: CRM id}, "ids": [CRM ids in creation order]}``
- ``GET  /__sandbox/deals/ids``       ``{"ids": [deal ids], "deleted": [those in the recycle bin / archive]}``
- ``POST /__sandbox/deals``           out-of-band deal edits: ``{"updates": [{"id", "fields"}], "touch": [ids],
  "delete": [ids], "restore": [ids]}`` (delete: Salesforce's recycle bin, HubSpot's archive)
- ``GET  /__sandbox/config``          the tunable options (``TUNABLE``) and their values
- ``POST /__sandbox/config``          change some of them live, e.g. ``{"search_cap": 50, "rate_limit": 5}``
- ``GET  /__sandbox/health``

``GET /__sandbox/stats`` counts calls per endpoint; ``write_endpoints`` sums the calls to
the endpoints that change records or the schema (each app's ``WRITE_ENDPOINTS``), so a
dry run can be checked to have sent none.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from crmseg.config import Mapping
from crmseg.sandbox.defaults import Credentials
from crmseg.sandbox.faults import Fault, FaultPlan
from crmseg.sandbox.schema import FieldDef
from crmseg.sandbox.stats import Stats
from crmseg.sandbox.store import Record, Store

log = logging.getLogger("crmseg.sandbox")


@dataclass
class SandboxOptions:
    """Tunable behaviour of a sandbox server (limits, delays, credentials)."""

    credentials: Credentials = field(default_factory=Credentials)
    api_version: str = "59.0"
    daily_limit: int = 100_000  # Salesforce org API requests per day; HubSpot daily cap
    rate_limit: int = 190  # HubSpot: calls per rate_window seconds
    rate_window: float = 10.0
    search_rate_limit: int = 5  # HubSpot search: calls per search_window seconds
    search_window: float = 1.0
    search_cap: int = 10_000  # HubSpot: results one search query can page through ("after" past it -> 400)
    timeout_delay: float = 5.0  # "timeout" faults hold the response this long
    default_retry_after: float = 1.0
    jwt_public_key: str | None = None  # verify JWT bearer assertions when set (PEM)
    bulk_polls: int = 1  # bulk jobs (Salesforce Bulk API 2.0, Zoho Bulk Read): status polls answering in progress
    verbose: bool = False
    clock: Callable[[], float] = time.time  # record timestamps (seconds since the epoch)
    #: The identity the CRM reports: Salesforce's organization id (15 characters; answered in
    #: the token's ``id`` URL, ``userinfo`` and the ``Organization`` object), HubSpot's portal id
    #: (``/account-info/v3/details``). Two sandboxes with different ids are two CRMs.
    org_id: str = "00DSb0000000001"
    portal_id: int = 24150001
    #: Dynamics 365: the Entra ID tenant the token endpoint serves, the organization id
    #: ``WhoAmI`` answers, how long an access token lasts (Entra's ``expires_in``, ~60 min),
    #: service protection limits (requests per user per window, a ``$batch`` one request), whether
    #: ``account`` has change tracking, and how long a delta token lives.
    tenant_id: str = "5a9d0000-0000-4000-8000-00000000d365"
    organization_id: str = "d3650000-0000-4000-8000-000000000001"
    token_lifetime: int = 3599
    service_limit: int = 6000
    service_window: float = 300.0
    change_tracking: bool = True
    delta_token_days: float = 7.0
    #: Zoho CRM: the org id ``GET /org`` answers (digits), an access token's lifetime (3,600 s),
    #: the org's time zone (record times are answered with its offset), the records ``page``
    #: reaches (2,000) and a ``page_token`` walk (100,000), calls allowed at once (5 to 25 by
    #: edition), records one API credit updates, access tokens one refresh token gets per 10
    #: minutes, records one Bulk Read job exports (200,000). ``daily_limit`` is the org's API
    #: credits per rolling 24 hours.
    zoho_org_id: str = "868000000014021"
    zoho_token_lifetime: int = 3600
    zoho_utc_offset: str = "+05:30"
    zoho_page_limit: int = 2000
    zoho_token_limit: int = 100_000
    zoho_concurrency: int = 20
    zoho_records_per_credit: int = 10
    zoho_tokens_per_window: int = 10
    zoho_bulk_page: int = 200_000
    #: Several currencies: Salesforce's Opportunity gets ``CurrencyIsoCode`` and ``convertCurrency()``
    #: works; HubSpot's account-info lists additional currencies and deals vary ``deal_currency_code``.
    multi_currency: bool = False


#: Options that ``POST /__sandbox/config`` may change on a running sandbox, with their type.
TUNABLE: dict[str, type] = {
    "daily_limit": int,
    "rate_limit": int,
    "rate_window": float,
    "search_rate_limit": int,
    "search_window": float,
    "search_cap": int,
    "timeout_delay": float,
    "default_retry_after": float,
    "bulk_polls": int,
    "verbose": bool,
    "token_lifetime": int,
    "service_limit": int,
    "service_window": float,
    "delta_token_days": float,
    "zoho_token_lifetime": int,
    "zoho_page_limit": int,
    "zoho_token_limit": int,
    "zoho_concurrency": int,
    "zoho_records_per_credit": int,
    "zoho_tokens_per_window": int,
    "zoho_bulk_page": int,
}


def set_options(options: SandboxOptions, changes: dict[str, Any], *, live: bool = False) -> None:
    """Apply ``changes`` to ``options`` (TypeError for an unknown option or, when ``live``, a fixed one;
    ValueError for a value of the wrong type or a negative number)."""
    for key, val in changes.items():
        if not hasattr(options, key) or key.startswith("_"):
            raise TypeError(f"unknown sandbox option {key!r}")
        kind = TUNABLE.get(key)
        if kind is None:
            if live:
                raise TypeError(
                    f"sandbox option {key!r} cannot be changed on a running sandbox; tunable: {', '.join(TUNABLE)}"
                )
            setattr(options, key, val)
            continue
        if kind is bool:
            ok = isinstance(val, bool)
        elif kind is int:
            ok = isinstance(val, int) and not isinstance(val, bool)
        else:
            ok = isinstance(val, (int, float)) and not isinstance(val, bool)
        if not ok:
            raise ValueError(f"sandbox option {key!r} must be {kind.__name__}, not {val!r}")
        if kind is not bool and val < 0:
            raise ValueError(f"sandbox option {key!r} must be >= 0, not {val!r}")
        setattr(options, key, kind(val))


@dataclass
class Request:
    """One HTTP request as the apps see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def arg(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[-1] if vals else default

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.body.decode("utf-8") or "null")


@dataclass
class Response:
    """One HTTP response."""

    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """Raised by handlers: becomes a response with a vendor-shaped body."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(status, json.dumps(data).encode("utf-8"), headers=dict(headers or {}))


Route = tuple[str, Callable[[Request], Response]]


class BaseApp:
    """What both CRMs share: store, schema, faults, stats, control endpoints."""

    crm = "base"
    #: Endpoints that change records or the schema: a dry run must call none of them.
    WRITE_ENDPOINTS: frozenset[str] = frozenset()

    def __init__(
        self,
        store: Store,
        schema: dict[str, FieldDef],
        mapping: Mapping,
        tag_fields: dict[str, str],
        options: SandboxOptions,
    ) -> None:
        self.store = store
        self.schema = schema
        self.mapping = mapping
        self.tag_fields = tag_fields
        self.options = options
        self.stats = Stats()
        self.faults = FaultPlan()
        self.base_url = "http://127.0.0.1"
        self.id_map: dict[str, str] = {}  # seed id -> CRM id
        self.deals: Store | None = None  # the seeded deals, when any (see attach_deals)
        self.stopping = threading.Event()
        self.lock = threading.RLock()

    # ------------------------------------------------------------ to override
    def route(self, req: Request) -> Route | None:
        raise NotImplementedError

    def guard(self, req: Request, endpoint: str) -> Response | None:
        """Auth and limits before the handler runs; a Response refuses the call."""
        return None

    def fault_response(self, fault: Fault, req: Request, endpoint: str) -> Response:
        raise NotImplementedError

    def error_response(self, err: ApiError) -> Response:
        return json_response(err.status, err.body, err.headers)

    def not_found(self, req: Request) -> Response:
        return json_response(404, {"message": f"no such resource: {req.method} {req.path}"})

    def decorate(self, resp: Response, endpoint: str) -> None:
        """Add headers every API response carries (limit info)."""

    def extra_stats(self) -> dict[str, Any]:
        return {}

    def reset_limits(self) -> None:
        """Forget API usage and rate windows."""

    def options_changed(self) -> None:
        """Options were changed live (``POST /__sandbox/config``): re-read what is derived from them."""

    def attach_deals(self, store: Store) -> None:
        """Serve the deals of ``store`` (each CRM adds its deal endpoints)."""
        self.deals = store

    # ------------------------------------------------------------ helpers
    def now_ms(self) -> int:
        return int(self.options.clock() * 1000)

    # ------------------------------------------------------------ dispatch
    def handle(self, req: Request) -> Response:
        """Answer one request: control endpoint, or fault/guard/handler for an API call."""
        if req.path.startswith("/__sandbox/"):
            return self.control(req)
        route = self.route(req)
        if route is None:
            self.stats.call("unknown")
            unknown = self.not_found(req)
            self.stats.status(unknown.status)
            return unknown
        endpoint, fn = route
        self.stats.call(endpoint)
        fault = self.faults.call_fault(endpoint, req.path)
        delay = 0.0
        resp: Response | None = None
        if fault is not None and fault.kind == "timeout":
            delay = fault.delay if fault.delay is not None else self.options.timeout_delay
        elif fault is not None:
            resp = self.fault_response(fault, req, endpoint)
        if resp is None:
            resp = self.guard(req, endpoint)
        if resp is None:
            try:
                resp = fn(req)
            except ApiError as err:
                resp = self.error_response(err)
        self.decorate(resp, endpoint)
        self.stats.status(resp.status)
        if delay:
            self.stopping.wait(delay)
        return resp

    def control(self, req: Request) -> Response:
        """The ``/__sandbox/...`` endpoints."""
        path, method = req.path.rstrip("/"), req.method
        if path == "/__sandbox/health":
            return json_response(200, {"ok": True, "crm": self.crm, "accounts": self.store.count()})
        if path == "/__sandbox/stats" and method == "GET":
            return json_response(200, self.stats_snapshot())
        if path == "/__sandbox/stats/reset" and method == "POST":
            self.stats.reset()
            self.faults.reset_counts()
            self.reset_limits()
            return json_response(200, self.stats_snapshot())
        if path == "/__sandbox/faults" and method == "POST":
            try:
                self.faults.load(req.json() or {})
            except (ValueError, TypeError, AttributeError) as exc:
                return json_response(400, {"error": f"bad fault plan: {exc}"})
            return json_response(200, self.faults.snapshot())
        if path == "/__sandbox/faults" and method == "DELETE":
            self.faults.clear()
            return json_response(200, self.faults.snapshot())
        if path.startswith("/__sandbox/records/") and method == "GET":
            rec = self.store.get(path.rsplit("/", 1)[1])
            if rec is None:
                return json_response(404, {"error": "no such record"})
            return json_response(200, record_json(rec))
        if path == "/__sandbox/records" and method == "POST":
            return self._edit(req)
        if path == "/__sandbox/ids" and method == "GET":
            return json_response(200, {"id_map": self.id_map, "ids": self.store.select_ids()})
        if path == "/__sandbox/deals/ids" and method == "GET" and self.deals is not None:
            return json_response(200, {"ids": self.deals.select_ids(), "deleted": self.deals.select_ids("deleted = 1")})
        if path == "/__sandbox/deals" and method == "POST" and self.deals is not None:
            return self._edit_deals(req, self.deals)
        if path == "/__sandbox/config" and method == "GET":
            return json_response(200, self.config_snapshot())
        if path == "/__sandbox/config" and method == "POST":
            try:
                body = req.json()
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object of option: value")
                with self.lock:
                    set_options(self.options, body, live=True)
                    self.options_changed()
            except (ValueError, TypeError) as exc:
                return json_response(400, {"error": f"bad config: {exc}"})
            return json_response(200, self.config_snapshot())
        return json_response(404, {"error": f"no control endpoint {method} {path}"})

    def _edit(self, req: Request) -> Response:
        try:
            body = req.json() or {}
            changes = [(str(u["id"]), dict(u.get("fields") or {})) for u in body.get("updates", [])]
            changes += [(str(rid), {}) for rid in body.get("touch", [])]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return json_response(400, {"error": f"bad edit body: {exc}"})
        unknown = sorted({k for _, f in changes for k in f if k not in self.schema})
        if unknown:
            return json_response(400, {"error": f"unknown field(s): {', '.join(unknown)}"})
        with self.lock:
            done = self.store.update_many(changes, self.write_ms())
        return json_response(
            200,
            {
                "updated": [r.id for r in done if r],
                "missing": [rid for (rid, _), r in zip(changes, done, strict=True) if r is None],
            },
        )

    def _edit_deals(self, req: Request, store: Store) -> Response:
        try:
            body = req.json() or {}
            changes = [(str(u["id"]), dict(u.get("fields") or {})) for u in body.get("updates", [])]
            changes += [(str(rid), {}) for rid in body.get("touch", [])]
            delete = [str(rid) for rid in body.get("delete", [])]
            restore = [str(rid) for rid in body.get("restore", [])]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return json_response(400, {"error": f"bad edit body: {exc}"})
        with self.lock:
            now = self.write_ms()
            done = store.update_many(changes, now)
            deleted = store.set_deleted(delete, True, now)
            restored = store.set_deleted(restore, False, now)
        return json_response(200, {"updated": [r.id for r in done if r], "deleted": deleted, "restored": restored})

    def write_ms(self) -> int:
        """The modification time a write gets now (Salesforce keeps whole seconds)."""
        return self.now_ms()

    def config_snapshot(self) -> dict[str, Any]:
        return {key: getattr(self.options, key) for key in TUNABLE}

    def stats_snapshot(self) -> dict[str, Any]:
        out = self.stats.snapshot()
        writes = {ep: n for ep, n in out["calls"]["by_endpoint"].items() if ep in self.WRITE_ENDPOINTS}
        out["write_endpoints"] = {"total": sum(writes.values()), "by_endpoint": writes}
        out["faults"] = self.faults.snapshot()
        out["accounts"] = self.store.count()
        if self.deals is not None:
            out["deals"] = self.deals.count()
        out.update(self.extra_stats())
        return out


def record_json(rec: Record) -> dict[str, Any]:
    """A stored record for the control API."""
    return {"id": rec.id, "created_ms": rec.created_ms, "modified_ms": rec.modified_ms, "fields": rec.data}


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that hands every request to one app."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: BaseApp) -> None:
        self.app = app
        super().__init__(address, SandboxHandler)


class SandboxHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive) request handler delegating to ``server.app``."""

    protocol_version = "HTTP/1.1"
    server_version = "crmseg-sandbox/1"
    disable_nagle_algorithm = True  # headers and body go out separately: avoid ~40 ms delayed-ACK stalls
    server: SandboxHTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        try:
            resp = self.server.app.handle(req)
        except Exception:  # a sandbox bug must not kill the connection silently
            log.exception("sandbox error on %s %s", req.method, req.path)
            resp = json_response(500, {"message": "sandbox internal error", "errorCode": "UNKNOWN_EXCEPTION"})
        try:
            self.send_response(resp.status)
            if resp.body or resp.status not in (204, 304):
                self.send_header("Content-Type", resp.content_type)
            for key, val in resp.headers.items():
                self.send_header(key, val)
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if resp.body:
                self.wfile.write(resp.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.options.verbose:
            log.info("%s - %s", self.address_string(), format % args)
