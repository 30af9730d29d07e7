"""The Dynamics 365 (Dataverse Web API v9.2) subset the crmseg connector uses, over the sandbox store.

Microsoft Entra ID, standing in for ``https://login.microsoftonline.com`` (a client routes
those URLs here; msal refuses a plain-http authority):

- ``GET  /{tenant}/v2.0/.well-known/openid-configuration``: the tenant's OpenID metadata
  (its ``token_endpoint`` names the real host, which the client routes here too)
- ``POST /{tenant}/oauth2/v2.0/token``: client credentials (``client_id``, ``client_secret``,
  ``scope=<environment>/.default``) -> ``{"token_type": "Bearer", "expires_in", "access_token"}``;
  a wrong secret answers 401 ``invalid_client`` (AADSTS7000215), an unknown tenant 400; a
  certificate credential (``client_assertion_type`` jwt-bearer, a JWT signed with the key of a
  certificate registered in ``credentials.dynamics_certificates``) instead of the secret, refused
  as Entra ID does (AADSTS700027 for an unregistered certificate or a bad signature)

Dataverse (``Authorization: Bearer``; an unknown or expired token answers 401 with
``WWW-Authenticate: Bearer error="invalid_token"``):

- ``GET /api/data/v9.2/accounts?$select=a,b&$filter=modifiedon ge 2026-11-01T00:00:00Z``:
  ``Prefer: odata.maxpagesize=N`` (≤ 5,000; larger is ignored), pages ordered by the primary
  key, ``@odata.nextLink`` with a ``$skiptoken`` paging cookie; ``$filter`` takes comparisons
  of ``modifiedon`` / ``createdon`` joined by ``and`` (whole seconds, as Dataverse keeps them).
  Choice columns are integers; ``Prefer: odata.include-annotations="OData.Community.Display.V1.FormattedValue"``
  (or ``"*"``) adds ``<column>@OData.Community.Display.V1.FormattedValue`` beside choice,
  number, money, yes/no, date and lookup values (so a client must pick the choice columns by metadata).
- change tracking, as Microsoft documents it ("Use change tracking to synchronize data with
  external systems"): ``Prefer: odata.track-changes`` on a query (400 with ``$filter``,
  ``$orderby``, ``$expand`` or ``$top``) -> every row, ``Preference-Applied: odata.track-changes``,
  the last page carrying ``@odata.deltaLink`` (``$deltatoken=<version>!<date>``, the version
  taken at the first page: every write after it gets a later one, as Dataverse's row versions
  do). Following the link (no ``Prefer`` needed) answers a ``.../$delta`` context: the rows
  created or changed since, then the deleted ones as ``{"@odata.context": ".../$deletedEntity",
  "id", "reason": "deleted"}`` (also rows created and deleted in between), paged alike, and a
  new delta link on the last page (an empty ``value`` when nothing changed). A token older
  than ``delta_token_days`` answers 400 ``0x80044352`` ExpiredVersionStamp ("Version stamp
  associated with the client has expired. Please perform a full sync."); ``change_tracking=False``:
  the table has none (``ChangeTrackingEnabled`` false; tracking asked for answers 400).
- ``PATCH /api/data/v9.2/accounts(<guid>)`` with ``If-Match: *``: 204; 404 when the row is gone.
- ``POST /api/data/v9.2/$batch`` (multipart/mixed, ≤ 1,000 requests; change sets all or nothing;
  ``Prefer: odata.continue-on-error`` goes on past a failed request and answers 200, else the
  batch stops there and answers with that request's status, e.g. 400, as Microsoft documents).
  Only PATCH of accounts inside a batch.
- ``GET /api/data/v9.2/WhoAmI`` -> ``{"BusinessUnitId", "UserId", "OrganizationId"}``
- ``GET /api/data/v9.2/EntityDefinitions(LogicalName='account')`` (``ChangeTrackingEnabled``, ...;
  with ``$expand=Attributes(...)`` its attributes too),
  ``GET /api/data/v9.2/EntityDefinitions(LogicalName='account')/Attributes`` (``LogicalName``,
  ``AttributeType``, ``IsValidForUpdate``, ...) and
  ``.../Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`` (choice columns with
  ``OptionSet.Options[].Value`` / ``Label.UserLocalizedLabel.Label``); ``$select``/``$expand``
  are accepted and every property is answered.

Opportunities, when deals are seeded (``--deals N``; rows from :func:`crmseg.sandbox.deals.dynamics_records`):

- ``GET /api/data/v9.2/opportunities?$select=...&$filter=modifiedon ge ...``: paged as accounts
  (``$skiptoken``), deleted rows left out; ``statecode`` 0 Open / 1 Won / 2 Lost, money columns
  with their ``_base`` twins, lookups as ``_<name>_value`` GUIDs; ``Prefer:
  odata.include-annotations`` (``"*"``, the formatted value, or
  ``"Microsoft.Dynamics.CRM.lookuplogicalname"``) adds the lookups' table names (the customer
  lookup points to an account or a contact) and the choices' labels.
- ``GET /api/data/v9.2/transactioncurrencies?$select=isocurrencycode``: the org's currencies
  (USD only, or USD, EUR, GBP, CAD and AUD with ``multi_currency``).

Service protection: at most ``service_limit`` requests per ``service_window`` seconds, a
``$batch`` counting as one request whatever it holds (Microsoft's "Service protection API
limits": a batch "will avoid the number of requests limit"; the combined execution-time
limit, 1,200 s per 5 minutes, which bounds batches instead, is not emulated); beyond, 429
with ``Retry-After`` (seconds) and Dataverse's error body (``0x80072322``). Every answer
carries ``x-ms-ratelimit-burst-remaining-xrm-requests``. Error bodies are
``{"error": {"code": "0x...", "message"}}``; the sandbox's hex codes are illustrative (but for
the documented ones: ``0x80072322``, ``0x80044352``): clients must act on the HTTP status.

Stats name the endpoints ``token``, ``openid_configuration``, ``whoami``, ``accounts_query``
(a query's first page), ``accounts_next`` (a ``$skiptoken`` page), ``accounts_delta`` (a page
of a delta link), ``opportunities_query`` / ``opportunities_next``, ``transactioncurrencies``,
``update`` (PATCH), ``batch``, ``metadata_entity``, ``metadata_attributes`` and ``metadata_picklists``.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from crmseg.sandbox import deals as seeded
from crmseg.sandbox.base import ApiError, BaseApp, Request, Response, Route, json_response
from crmseg.sandbox.dynamics_batch import (
    BatchSyntaxError,
    SubRequest,
    SubResponse,
    parse_batch,
    render_batch,
)
from crmseg.sandbox.dynamics_entra import WELL_KNOWN_LOGIN, EntraId
from crmseg.sandbox.dynamics_schema import attribute_of, option_label, store_value
from crmseg.sandbox.faults import Fault
from crmseg.sandbox.ratelimit import SlidingWindow, retry_after_header
from crmseg.sandbox.schema import FieldDef
from crmseg.sandbox.store import Record
from crmseg.sandbox.values import FieldError, ms_of, parse_datetime

API = "/api/data/v9.2"
MAX_PAGE = 5000
MAX_BATCH = 1000
FORMATTED = "OData.Community.Display.V1.FormattedValue"
_ACCOUNT = re.compile(rf"^{re.escape(API)}/accounts\(([0-9a-fA-F-]{{36}})\)$")
_ATTRS = f"{API}/EntityDefinitions(LogicalName='account')/Attributes"
_COMPARE = re.compile(r"^\s*(modifiedon|createdon)\s+(eq|ne|gt|ge|lt|le)\s+(\S+)\s*$", re.IGNORECASE)
_SQL_OP = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_LAST = re.compile(r'last="\{?([0-9a-fA-F-]{36})\}?"')
_SINCE = re.compile(r'since="(\d+)"')
_PHASE = re.compile(r'phase="([01])"')
_ENTITY = f"{API}/EntityDefinitions(LogicalName='account')"


def dv_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> ApiError:
    """An error answered with Dataverse's body shape."""
    return ApiError(status, {"error": {"code": code, "message": message}}, headers)


def iso_seconds(ms: int) -> str:
    """Dataverse's datetime text: UTC, whole seconds, ``Z``."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prefer(req: Request) -> dict[str, str]:
    """The ``Prefer`` header's preferences (several headers or comma-joined), name -> value."""
    out: dict[str, str] = {}
    for item in req.header("prefer").split(","):
        name, _, value = item.strip().partition("=")
        if name:
            out[name.strip().lower()] = value.strip().strip('"')
    return out


class DynamicsApp(BaseApp):
    """Dynamics 365 / Dataverse Web API emulation (with its Entra ID token endpoint)."""

    crm = "dynamics"
    WRITE_ENDPOINTS = frozenset({"update", "batch"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        o = self.options
        for name in ("tenant_id", "organization_id"):
            try:
                uuid.UUID(str(getattr(o, name)))
            except ValueError:
                raise ValueError(f"sandbox {name} must be a GUID, not {getattr(o, name)!r}") from None
        self.window = SlidingWindow(o.service_limit, o.service_window)
        self.entra = EntraId(o, self.stats.login)
        self.tokens = self.entra.tokens  # access token -> expiry (epoch seconds)
        self.user_id = str(uuid.uuid5(uuid.UUID(o.organization_id), "crmseg application user"))
        self._issued = 0  # the latest change-tracking version handed out in a delta link (epoch ms)
        #: PEM certificates registered on the application (a certificate credential's public part).
        self.certificates = self.entra.certificates

    # ------------------------------------------------------------ routing
    def route(self, req: Request) -> Route | None:
        m, path = req.method, req.path.rstrip("/")
        tenant = re.fullmatch(r"/([^/]+)/(oauth2/v2\.0/token|v2\.0/\.well-known/openid-configuration)", path)
        if tenant:
            if tenant.group(2).startswith("oauth2") and m == "POST":
                return "token", lambda r: self.entra.token(r, tenant.group(1))
            if m == "GET":
                return "openid_configuration", lambda r: self.entra.openid(tenant.group(1))
        if path == f"{API}/accounts" and m == "GET":
            if req.arg("$deltatoken") is not None:
                return "accounts_delta", self._query
            return ("accounts_next" if req.arg("$skiptoken") else "accounts_query"), self._query
        found = _ACCOUNT.match(path)
        if found and m == "PATCH":
            return "update", lambda r: self._patch(r, found.group(1).lower())
        if path == f"{API}/$batch" and m == "POST":
            return "batch", self._batch
        if path == f"{API}/opportunities" and m == "GET" and self.deals is not None:
            return ("opportunities_next" if req.arg("$skiptoken") else "opportunities_query"), self._opportunities
        if path == f"{API}/transactioncurrencies" and m == "GET" and self.deals is not None:
            return "transactioncurrencies", self._currencies
        if path == f"{API}/WhoAmI" and m == "GET":
            return "whoami", self._whoami
        if path == _ENTITY and m == "GET":
            return "metadata_entity", self._entity
        if path == _ATTRS and m == "GET":
            return "metadata_attributes", self._attributes
        if path == f"{_ATTRS}/Microsoft.Dynamics.CRM.PicklistAttributeMetadata" and m == "GET":
            return "metadata_picklists", self._picklists
        return None

    def not_found(self, req: Request) -> Response:
        segment = req.path.rsplit("/", 1)[-1]
        return self.error_response(dv_error(404, "0x8006088a", f"Resource not found for the segment '{segment}'."))

    def guard(self, req: Request, endpoint: str) -> Response | None:
        if endpoint in ("token", "openid_configuration"):
            return None
        parts = req.header("authorization").split(None, 1)
        token = parts[1].strip() if len(parts) == 2 and parts[0].lower() == "bearer" else ""
        expiry = self.entra.expiry(token)
        if expiry is None or expiry <= self.options.clock():
            why = "The token is expired" if expiry is not None else "The access token is missing or invalid"
            return self._unauthorized(why)
        allowed, _, wait = self.window.acquire()
        if not allowed:
            return self._throttled(wait)
        return None

    def _unauthorized(self, why: str) -> Response:
        return Response(
            401,
            b"",
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{why}", '
                f'authorization_uri="{WELL_KNOWN_LOGIN}/{self.options.tenant_id}/oauth2/authorize"'
            },
        )

    def _throttled(self, wait: float) -> Response:
        o = self.options
        return self.error_response(
            dv_error(
                429,
                "0x80072322",
                f"Number of requests exceeded the limit of {o.service_limit} over time window of "
                f"{int(o.service_window)} seconds.",
                {"Retry-After": retry_after_header(wait)},
            )
        )

    def decorate(self, resp: Response, endpoint: str) -> None:
        if endpoint in ("token", "openid_configuration"):
            return
        resp.headers.setdefault("OData-Version", "4.0")
        resp.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] = str(self.window.remaining())
        resp.headers["x-ms-ratelimit-time-remaining-xrm-requests"] = "1,200.00"

    def fault_response(self, fault: Fault, req: Request, endpoint: str) -> Response:
        retry = fault.retry_after if fault.retry_after is not None else self.options.default_retry_after
        if endpoint in ("token", "openid_configuration"):
            return self.entra.fault_response(fault.kind, retry)
        if fault.kind == "429":
            return self._throttled(retry)
        if fault.kind == "expired_session":
            return self._unauthorized("The token is expired (sandbox fault)")
        if fault.kind == "503":
            return self.error_response(
                dv_error(
                    503, "0x80040216", "Service unavailable (sandbox fault)", {"Retry-After": retry_after_header(retry)}
                )
            )
        return self.error_response(dv_error(500, "0x80040216", "An unexpected error occurred. (sandbox fault)"))

    def extra_stats(self) -> dict[str, Any]:
        return {"service_window": {"limit": self.window.limit, "remaining": self.window.remaining()}}

    def reset_limits(self) -> None:
        self.window.reset()

    def options_changed(self) -> None:
        self.window.limit, self.window.window = self.options.service_limit, self.options.service_window

    # ------------------------------------------------------------ identity, metadata
    def _whoami(self, req: Request) -> Response:
        org = self.options.organization_id
        return json_response(
            200,
            {
                "@odata.context": f"{self.base_url}{API}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                "BusinessUnitId": str(uuid.uuid5(uuid.UUID(org), "root business unit")),
                "UserId": self.user_id,
                "OrganizationId": org,
            },
        )

    def _entity(self, req: Request) -> Response:
        """The account table's definition (``ChangeTrackingEnabled`` among its properties), with
        its attributes when ``$expand=Attributes(...)`` asks (every property answered)."""
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}{API}/$metadata#EntityDefinitions/$entity",
            "LogicalName": "account",
            "SchemaName": "Account",
            "EntitySetName": "accounts",
            "PrimaryIdAttribute": "accountid",
            "ChangeTrackingEnabled": self.options.change_tracking,
            "MetadataId": str(uuid.uuid5(uuid.UUID(self.options.organization_id), "account")),
        }
        if re.match(r"^Attributes\b", req.arg("$expand") or ""):
            body["Attributes"] = self._attribute_rows()
        return json_response(200, body)

    def _attributes(self, req: Request) -> Response:
        return json_response(
            200,
            {
                "@odata.context": f"{self.base_url}{API}/$metadata#EntityDefinitions('account')/Attributes",
                "value": self._attribute_rows(),
            },
        )

    def _attribute_rows(self) -> list[dict[str, Any]]:
        value = []
        for fd in self.schema.values():
            name, kind = attribute_of(fd)
            value.append(
                {
                    "@odata.type": f"#Microsoft.Dynamics.CRM.{_METADATA_TYPE.get(fd.kind, 'String')}AttributeMetadata",
                    "LogicalName": name,
                    "SchemaName": name,
                    "AttributeType": kind,
                    "AttributeTypeName": {"Value": f"{kind}Type"},
                    "IsValidForUpdate": fd.updateable,
                    "IsValidForRead": True,
                    "IsCustomAttribute": fd.custom,
                    "IsPrimaryId": fd.system == "id",
                    "MetadataId": str(uuid.uuid5(uuid.UUID(self.options.organization_id), fd.name)),
                }
            )
        return value

    def _picklists(self, req: Request) -> Response:
        value = []
        for fd in self.schema.values():
            if fd.kind != "Picklist":
                continue
            options = [
                {
                    "Value": v,
                    "Label": {
                        "LocalizedLabels": [{"Label": label, "LanguageCode": 1033}],
                        "UserLocalizedLabel": {"Label": label, "LanguageCode": 1033},
                    },
                }
                for label, v in (fd.extra.get("options") or {}).items()
            ]
            value.append(
                {
                    "LogicalName": fd.name,
                    "MetadataId": str(uuid.uuid5(uuid.UUID(self.options.organization_id), fd.name)),
                    "OptionSet": {"Name": f"account_{fd.name}", "IsGlobal": False, "Options": options},
                    "GlobalOptionSet": None,
                }
            )
        return json_response(200, {"value": value})

    # ------------------------------------------------------------ reads
    def _selected(self, req: Request) -> list[FieldDef]:
        raw = req.arg("$select")
        if not raw:
            return list(self.schema.values())
        out = []
        for name in (n.strip() for n in raw.split(",")):
            fd = self.schema.get(name)
            if fd is None:
                raise dv_error(
                    400,
                    "0x80060888",
                    f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.account'.",
                )
            out.append(fd)
        if not any(fd.system == "id" for fd in out):
            out.append(self.schema["accountid"])
        return out

    def _filter(self, text: str) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
            m = _COMPARE.match(part)
            if not m:
                raise dv_error(
                    400,
                    "0x80060888",
                    f"The sandbox cannot evaluate the $filter clause {part!r} "
                    "(comparisons of modifiedon/createdon joined by 'and' only).",
                )
            when = parse_datetime(m.group(3))
            if when is None:
                raise dv_error(400, "0x80060888", f"The DateTimeOffset literal {m.group(3)!r} is not valid.")
            column = "modified_ms" if m.group(1).lower() == "modifiedon" else "created_ms"
            clauses.append(f"(({column} / 1000) * 1000) {_SQL_OP[m.group(2).lower()]} ?")  # whole seconds
            params.append(int(when.timestamp()) * 1000)
        return " AND ".join(clauses), params

    def _query(self, req: Request) -> Response:
        prefer = _prefer(req)
        options = [k for k in req.query if k.startswith("$")]
        delta = req.arg("$deltatoken")
        tracking = "odata.track-changes" in prefer or delta is not None
        if tracking and not self.options.change_tracking:
            raise dv_error(400, "0x80044350", "Change tracking is not enabled for the entity 'account'.")
        for name in ("$filter", "$orderby", "$expand", "$top"):
            if tracking and name in options:
                raise dv_error(
                    400, "0x80060888", f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.'
                )
        unsupported = sorted(k for k in options if k not in ("$select", "$filter", "$skiptoken", "$deltatoken"))
        if unsupported:
            raise dv_error(
                400, "0x80060888", f"The sandbox does not support the query option(s) {', '.join(unsupported)}."
            )
        try:
            size = int(prefer.get("odata.maxpagesize") or MAX_PAGE)
        except ValueError:
            size = MAX_PAGE
        size = size if 1 <= size <= MAX_PAGE else MAX_PAGE
        columns = self._selected(req)
        annotate = prefer.get("odata.include-annotations", "") in (FORMATTED, "*")
        cookie = unquote(unquote(req.arg("$skiptoken") or ""))
        last = _LAST.search(cookie)
        after = last.group(1).lower() if last else None
        since = _SINCE.search(cookie)
        # the version the walk's delta link hands out: taken at its first page (under the write lock,
        # so every write after it gets a later modification time, as Dataverse's row versions do)
        version = int(since.group(1)) if since else (self._issue_version() if tracking else 0)
        if delta is not None:
            phase = _PHASE.search(cookie)
            ids = self._delta_ids(self._changed_after(delta), int(phase.group(1)) if phase else 0, after, size + 1)
        else:
            where, params = "deleted = 0", list[Any]()
            if req.arg("$filter"):
                clause, params = self._filter(req.arg("$filter") or "")
                where = f"{where} AND {clause}"
            if after:
                where, params = f"{where} AND id > ?", [*params, after]
            ids = [(0, i) for i in self.store.select_ids(where, params, "id", size + 1)]
        found = self.store.get_many([i for _, i in ids[:size]])
        value = [self._render(found[i], columns, annotate) for _, i in ids[:size] if i in found]
        ctx = "accounts(" + ",".join(fd.name for fd in columns) + ")"
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}{API}/$metadata#{ctx}" + ("/$delta" if delta is not None else "")
        }
        body["value"] = value
        query = [(k, v[-1]) for k, v in req.query.items() if k != "$skiptoken"]
        link = f"{self.base_url}{API}/accounts?" + "&".join(f"{k}={quote(v, safe=',$!')}" for k, v in query)
        if len(ids) > size:
            number = re.search(r'pagenumber="(\d+)"', cookie)
            page = (int(number.group(1)) if number else 1) + 1
            phase_of_last, last_id = ids[size - 1]
            inner = quote(f'<cookie page="{page - 1}"><accountid last="{{{last_id.upper()}}}" /></cookie>', safe="")
            token = (
                f'<cookie pagenumber="{page}" pagingcookie="{inner}" istracking="{tracking}" since="{version}"'
                + (f' phase="{phase_of_last}"' if delta is not None else "")
                + " />"
            )
            body["@odata.nextLink"] = f"{link}&$skiptoken={quote(token, safe='')}"
        elif tracking:
            stamp = datetime.fromtimestamp(version / 1000, tz=UTC).strftime("%m/%d/%Y %H:%M:%S")
            kept = "&".join(f"{k}={quote(v, safe=',$')}" for k, v in query if k != "$deltatoken")
            body["@odata.deltaLink"] = (
                f"{self.base_url}{API}/accounts?{kept}&$deltatoken={quote(f'{version}!{stamp}', safe='')}"
            )
        applied = f"odata.maxpagesize={size}" + (",odata.track-changes" if tracking and delta is None else "")
        return json_response(200, body, {"Preference-Applied": applied})

    def _changed_after(self, delta: str) -> int:
        """The version a delta token was issued at (400 ExpiredVersionStamp past ``delta_token_days``)."""
        try:
            changed_after = int(delta.split("!", 1)[0])
        except ValueError:
            raise dv_error(400, "0x80044352", f"The delta token '{delta}' is not valid.") from None
        if self.now_ms() - changed_after > self.options.delta_token_days * 86_400_000:
            raise dv_error(
                400,
                "0x80044352",
                "Version stamp associated with the client has expired. Please perform a full sync.",
            )
        return changed_after

    def _delta_ids(self, changed_after: int, phase: int, after: str | None, limit: int) -> list[tuple[int, str]]:
        """(phase, id) of up to ``limit`` rows changed after ``changed_after``: created or updated
        rows first (phase 0), then deleted ones (phase 1), each in id order, from the paging
        cookie's place (``phase``, last id ``after``) on."""
        out: list[tuple[int, str]] = []
        for ph in (0, 1):
            if ph < phase or len(out) >= limit:
                continue
            where, params = f"deleted = {ph} AND modified_ms > ?", list[Any]([changed_after])
            if after and ph == phase:
                where, params = f"{where} AND id > ?", [*params, after]
            out += [(ph, i) for i in self.store.select_ids(where, params, "id", limit - len(out))]
        return out

    def _issue_version(self) -> int:
        """A change-tracking version for a delta link: now, and never earlier than one handed out."""
        with self.lock:
            self._issued = max(self._issued, self.now_ms())
            return self._issued

    def write_ms(self) -> int:
        """A write's modification time: after every delta link's version handed out (Dataverse's
        row versions only grow), so a change made once a link was issued is in that link's delta."""
        with self.lock:
            return max(self.now_ms(), self._issued + 1)

    def _render(self, rec: Record, columns: list[FieldDef], annotate: bool) -> dict[str, Any]:
        if rec.deleted:
            return {
                "@odata.context": f"{self.base_url}{API}/$metadata#accounts/$deletedEntity",
                "id": rec.id,
                "reason": "deleted",
            }
        out: dict[str, Any] = {"@odata.etag": f'W/"{rec.modified_ms}"'}
        for fd in columns:
            value, label = self._value(rec, fd)
            out[fd.name] = value
            if annotate and label is not None:
                out[f"{fd.name}@{FORMATTED}"] = label
        return out

    def _value(self, rec: Record, fd: FieldDef) -> tuple[Any, str | None]:
        """(the value as Dataverse sends it, its formatted value or None)."""
        if fd.system == "id":
            return rec.id, None
        if fd.system in ("created", "modified"):
            ms = rec.created_ms if fd.system == "created" else rec.modified_ms
            return iso_seconds(ms), _date_label(ms)
        stored = rec.data.get(fd.name)
        if stored is None:
            return None, None
        if fd.kind == "Picklist":
            return stored, option_label(fd, stored)
        if fd.kind == "DateTime":
            when = ms_of(stored)
            return (iso_seconds(when), _date_label(when)) if when is not None else (None, None)
        if fd.kind == "Boolean":
            return bool(stored), "Yes" if stored else "No"
        if fd.kind == "Integer":
            return int(stored), f"{int(stored):,}"
        if fd.kind == "Money":
            return float(stored), f"${float(stored):,.2f}"
        if fd.kind == "Lookup":
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"systemuser:{stored}")), str(stored)
        return stored, None

    # ------------------------------------------------------------ opportunities
    def _currencies(self, req: Request) -> Response:
        codes = list(seeded.CURRENCY_RATES) if self.options.multi_currency else [seeded.CORPORATE_CURRENCY]
        value = [
            {"transactioncurrencyid": seeded.dy_currency_id(c), "isocurrencycode": c, "currencyname": c} for c in codes
        ]
        return json_response(
            200, {"@odata.context": f"{self.base_url}{API}/$metadata#transactioncurrencies", "value": value}
        )

    def _opportunities(self, req: Request) -> Response:
        store = self.deals
        assert store is not None  # routed only when deals are attached
        unsupported = sorted(
            k for k in req.query if k.startswith("$") and k not in ("$select", "$filter", "$skiptoken")
        )
        if unsupported:
            raise dv_error(
                400, "0x80060888", f"The sandbox does not support the query option(s) {', '.join(unsupported)}."
            )
        prefer = _prefer(req)
        try:
            size = int(prefer.get("odata.maxpagesize") or MAX_PAGE)
        except ValueError:
            size = MAX_PAGE
        size = size if 1 <= size <= MAX_PAGE else MAX_PAGE
        raw = req.arg("$select")
        columns = [n.strip() for n in raw.split(",")] if raw else list(OPPORTUNITY_COLUMNS)
        for name in columns:
            if name not in OPPORTUNITY_COLUMNS:
                raise dv_error(
                    400,
                    "0x80060888",
                    f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.opportunity'.",
                )
        annotations = prefer.get("odata.include-annotations", "")
        labels = annotations in (FORMATTED, "*")
        tables = annotations in (LOOKUP_TABLE, "*")
        where, params = "deleted = 0", list[Any]()
        if req.arg("$filter"):
            clause, params = self._filter(req.arg("$filter") or "")
            where = f"{where} AND {clause}"
        last = _LAST.search(unquote(unquote(req.arg("$skiptoken") or "")))
        if last:
            where, params = f"{where} AND id > ?", [*params, last.group(1).lower()]
        ids = store.select_ids(where, params, "id", size + 1)
        found = store.get_many(ids[:size])
        value = [_opportunity(found[i], columns, labels, tables) for i in ids[:size] if i in found]
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}{API}/$metadata#opportunities({','.join(columns)})",
            "value": value,
        }
        if len(ids) > size:
            query = "&".join(f"{k}={quote(v[-1], safe=',$')}" for k, v in req.query.items() if k != "$skiptoken")
            inner = quote(f'<cookie page="1"><opportunityid last="{{{ids[size - 1].upper()}}}" /></cookie>', safe="")
            token = f'<cookie pagenumber="2" pagingcookie="{inner}" istracking="False" />'
            body["@odata.nextLink"] = f"{self.base_url}{API}/opportunities?{query}&$skiptoken={quote(token, safe='')}"
        return json_response(200, body, {"Preference-Applied": f"odata.maxpagesize={size}"})

    # ------------------------------------------------------------ writes
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
        found = _ACCOUNT.match(
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
        go_on = "odata.continue-on-error" in _prefer(req)
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


_METADATA_TYPE = {
    "Picklist": "Picklist",
    "Integer": "Integer",
    "Money": "Money",
    "Double": "Double",
    "Boolean": "Boolean",
    "DateTime": "DateTime",
    "Memo": "Memo",
    "Lookup": "Lookup",
    "Uniqueidentifier": "",
}


LOOKUP_TABLE = "Microsoft.Dynamics.CRM.lookuplogicalname"
#: The opportunity columns the sandbox serves (lookups under their ``_<name>_value`` property).
OPPORTUNITY_COLUMNS = (
    "opportunityid",
    "name",
    "statecode",
    "statuscode",
    "estimatedvalue",
    "estimatedvalue_base",
    "actualvalue",
    "actualvalue_base",
    "_transactioncurrencyid_value",
    "exchangerate",
    "createdon",
    "modifiedon",
    "estimatedclosedate",
    "actualclosedate",
    "_parentaccountid_value",
    "_customerid_value",
    "stepname",
    "salesstagecode",
    "closeprobability",
)
_STATE_LABEL = {0: "Open", 1: "Won", 2: "Lost"}
_STATUS_LABEL = {1: "In Progress", 2: "On Hold", 3: "Won", 4: "Canceled", 5: "Out-Sold"}
_STAGE_LABEL = {0: "Qualify", 1: "Develop", 2: "Propose", 3: "Close"}


def _opportunity(rec: Record, columns: list[str], labels: bool, tables: bool) -> dict[str, Any]:
    """One opportunity row as Dataverse answers it (its id always; annotations when asked)."""
    out: dict[str, Any] = {"@odata.etag": f'W/"{rec.modified_ms}"', "opportunityid": rec.id}
    for name in columns:
        if name == "createdon" or name == "modifiedon":
            ms = rec.created_ms if name == "createdon" else rec.modified_ms
            out[name] = iso_seconds(ms)
            if labels:
                out[f"{name}@{FORMATTED}"] = _date_label(ms)
            continue
        if name == "opportunityid":
            continue
        value = rec.data.get(name)
        out[name] = value
        if value is None:
            continue
        if name == "_customerid_value" and tables:
            out[f"{name}@{LOOKUP_TABLE}"] = rec.data.get(seeded.DY_CUSTOMER_TABLE, "account")
        elif name == "_parentaccountid_value" and tables:
            out[f"{name}@{LOOKUP_TABLE}"] = "account"
        elif name == "_transactioncurrencyid_value" and tables:
            out[f"{name}@{LOOKUP_TABLE}"] = "transactioncurrency"
        if labels:
            label = {"statecode": _STATE_LABEL, "statuscode": _STATUS_LABEL, "salesstagecode": _STAGE_LABEL}.get(name)
            if label is not None:
                out[f"{name}@{FORMATTED}"] = label.get(int(value), str(value))
    return out


def _date_label(ms: int) -> str:
    d = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{d.month}/{d.day}/{d.year} {d.strftime('%I:%M %p').lstrip('0')}"


def _sub_error(err: ApiError, sub: SubRequest) -> SubResponse:
    return SubResponse(err.status, json.dumps(err.body).encode("utf-8"), dict(err.headers), sub.content_id)
