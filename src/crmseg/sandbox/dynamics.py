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

- account queries (``$select``, ``$filter`` on ``modifiedon``/``createdon``, paging, formatted
  values), change tracking (delta links), and when deals are seeded opportunities and the org's
  currencies: :class:`crmseg.sandbox.dynamics_reads.DataverseReads`
- ``PATCH /api/data/v9.2/accounts(<guid>)`` and ``POST /api/data/v9.2/$batch``:
  :class:`crmseg.sandbox.dynamics_writes.DataverseWrites`
- ``GET /api/data/v9.2/WhoAmI`` -> ``{"BusinessUnitId", "UserId", "OrganizationId"}``
- the ``account`` table's metadata (``EntityDefinitions(LogicalName='account')``, its
  ``Attributes`` and choice option sets): :class:`crmseg.sandbox.dynamics_schema.DataverseMetadata`

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

import re
import uuid
from typing import Any

from crmseg.sandbox.base import Request, Response, Route, json_response
from crmseg.sandbox.dynamics_entra import WELL_KNOWN_LOGIN, EntraId
from crmseg.sandbox.dynamics_odata import ACCOUNT_PATH, API, dv_error
from crmseg.sandbox.dynamics_reads import DataverseReads
from crmseg.sandbox.dynamics_schema import DataverseMetadata
from crmseg.sandbox.dynamics_writes import DataverseWrites
from crmseg.sandbox.faults import Fault
from crmseg.sandbox.ratelimit import SlidingWindow, retry_after_header

_ATTRS = f"{API}/EntityDefinitions(LogicalName='account')/Attributes"
_ENTITY = f"{API}/EntityDefinitions(LogicalName='account')"


class DynamicsApp(DataverseReads, DataverseWrites, DataverseMetadata):
    """Dynamics 365 / Dataverse Web API emulation (with its Entra ID token endpoint).

    The handlers come from the mixins (reads, writes, metadata; each a :class:`BaseApp` with the
    endpoints of its module); this class routes to them and adds the bearer-token guard,
    service protection, faults and stats."""

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
        found = ACCOUNT_PATH.match(path)
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

    # ------------------------------------------------------------ identity
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
