"""Salesforce authentication in the sandbox: sessions, SOAP login and the OAuth token endpoint.

- ``POST /services/Soap/u/<ver>``: the partner SOAP ``login`` simple-salesforce sends for
  username + password + security token. The answer's ``serverUrl`` points at the sandbox
  itself, so ``simple_salesforce.SalesforceLogin(..., scratch_url="http://127.0.0.1:PORT")``
  returns ``(session_id, "127.0.0.1:PORT")``.
- ``POST /services/oauth2/token``: grant types ``urn:ietf:params:oauth:grant-type:jwt-bearer``
  (``iss`` = consumer key, ``sub`` = username, ``exp`` in the future; the RS256 signature is
  checked when the sandbox has ``jwt_public_key``), ``password`` (consumer key/secret +
  username/password+token) and ``client_credentials``. It answers ``access_token`` and
  ``instance_url`` = the sandbox's own URL, as ``simple_salesforce.login.token_login`` expects,
  and the identity URL ``id`` = ``<sandbox>/id/<orgId>/<userId>`` (18-character ids).
- ``GET /services/oauth2/userinfo``: the user and ``organization_id`` of the session (OpenID
  Connect userinfo; not counted against the API allowance, like Salesforce).
- Every other API call needs ``Authorization: Bearer <session>`` (or ``OAuth <session>``)
  with a session the sandbox issued, or the configured static ``session_id``.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import jwt

from crmseg.sandbox.base import Request, Response, json_response
from crmseg.sandbox.seed import sf_id18

if TYPE_CHECKING:
    from crmseg.sandbox.salesforce import SalesforceApp

USER_ID = "005Sb0000000001"
ORG_ID = re.compile(r"^00D[A-Za-z0-9]{12}$")


def check_org_id(org_id: str) -> str:
    """``org_id`` if it is a 15-character organization id (``00D`` + 12 letters or digits), else ValueError."""
    if not isinstance(org_id, str) or not ORG_ID.fullmatch(org_id):
        raise ValueError(f"sandbox org_id must be 15 characters starting with '00D', not {org_id!r}")
    return org_id


def identity_url(app: SalesforceApp) -> str:
    """The OAuth identity URL of the sandbox's one user: ``<base>/id/<orgId>/<userId>``."""
    return f"{app.base_url}/id/{sf_id18(app.options.org_id)}/{sf_id18(USER_ID)}"


class Sessions:
    """The session ids the sandbox accepts; thread-safe."""

    def __init__(self, static: str | None, org_id: str) -> None:
        self._lock = threading.Lock()
        self._valid: set[str] = {static} if static else set()
        self._org = org_id

    def issue(self) -> str:
        """A fresh session id, valid until revoked."""
        sid = f"{self._org}!AQ{secrets.token_urlsafe(36)}"
        with self._lock:
            self._valid.add(sid)
        return sid

    def valid(self, sid: str) -> bool:
        with self._lock:
            return sid in self._valid

    def revoke_all(self) -> None:
        """Expire every session (the ``expired_session`` fault)."""
        with self._lock:
            self._valid.clear()


def bearer(req: Request) -> str:
    """The token of an ``Authorization: Bearer|OAuth <token>`` header, or ''."""
    parts = req.header("authorization").split(None, 1)
    if len(parts) == 2 and parts[0].lower() in ("bearer", "oauth"):
        return parts[1].strip()
    return ""


# ------------------------------------------------------------------ SOAP login
_FAULT = """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope \
xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>\
<faultcode>sf:{code}</faultcode><faultstring>{code}: {msg}</faultstring><detail>\
<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>\
<sf:exceptionMessage>{msg}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>\
</soapenv:Body></soapenv:Envelope>"""

_OK = """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope \
xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>\
<metadataServerUrl>{base}/services/Soap/m/{ver}/{org}</metadataServerUrl>\
<passwordExpired>false</passwordExpired><sandbox>true</sandbox>\
<serverUrl>{base}/services/Soap/u/{ver}/{org}</serverUrl><sessionId>{sid}</sessionId>\
<userId>{user}</userId><userInfo><organizationId>{org}</organizationId>\
<organizationName>crmseg sandbox</organizationName><userEmail>{email}</userEmail>\
<userFullName>Sandbox User</userFullName><userId>{user}</userId><userName>{email}</userName>\
</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"""


def _xml(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"), content_type="text/xml;charset=UTF-8")


def _soap_values(body: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for el in ET.fromstring(body).iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("username", "password") and el.text is not None:
            out[tag] = el.text
    return out


def soap_login(app: SalesforceApp, req: Request) -> Response:
    """Answer a partner SOAP login like Salesforce does (fault XML on failure)."""
    try:
        vals = _soap_values(req.body)
    except ET.ParseError:
        return _xml(500, _FAULT.format(code="INVALID_LOGIN", msg="Invalid request body"))
    if not _password_ok(app, vals.get("username", ""), vals.get("password", "")):
        msg = "Invalid username, password, security token; or user locked out."
        return _xml(500, _FAULT.format(code="INVALID_LOGIN", msg=msg))
    sid = app.sessions.issue()
    app.stats.login()
    creds = app.options.credentials
    return _xml(
        200,
        _OK.format(
            base=app.base_url,
            ver=app.options.api_version,
            org=app.options.org_id,
            sid=sid,
            user=USER_ID,
            email=escape(creds.username),
        ),
    )


def _password_ok(app: SalesforceApp, username: str, password: str) -> bool:
    creds = app.options.credentials
    if username != creds.username:
        return False
    return password == creds.password + creds.security_token or (
        not creds.security_token and password == creds.password
    )


# ------------------------------------------------------------------ OAuth 2.0 token
def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response(status, {"error": error, "error_description": description})


def _token_ok(app: SalesforceApp) -> Response:
    sid = app.sessions.issue()
    app.stats.login()
    now = str(int(time.time() * 1000))
    return json_response(
        200,
        {
            "access_token": sid,
            "instance_url": app.base_url,
            "id": identity_url(app),
            "token_type": "Bearer",
            "issued_at": now,
            "scope": "api",
            "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
        },
    )


def _jwt_claims(app: SalesforceApp, assertion: str) -> dict[str, Any] | None:
    key = app.options.jwt_public_key
    try:
        if key:
            return jwt.decode(assertion, key, algorithms=["RS256"], options={"verify_aud": False})
        return jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None


def oauth_token(app: SalesforceApp, req: Request) -> Response:
    """``POST /services/oauth2/token`` for the JWT bearer, password and client-credentials flows."""
    form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8"), keep_blank_values=True).items()}
    creds = app.options.credentials
    grant = form.get("grant_type", "")
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        claims = _jwt_claims(app, form.get("assertion", ""))
        if claims is None:
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != creds.consumer_key:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if claims.get("sub") != creds.username:
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        aud = str(claims.get("aud", ""))
        if aud not in ("https://login.salesforce.com", "https://test.salesforce.com", app.base_url):
            return _oauth_error("invalid_grant", "audience is invalid")
        try:
            expired = float(claims.get("exp", 0)) < time.time()
        except (TypeError, ValueError):
            expired = True
        if expired:
            return _oauth_error("invalid_grant", "expired authorization code")
        return _token_ok(app)
    if grant == "password":
        if form.get("client_id") != creds.consumer_key or form.get("client_secret") != creds.consumer_secret:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if not _password_ok(app, form.get("username", ""), form.get("password", "")):
            return _oauth_error("invalid_grant", "authentication failure")
        return _token_ok(app)
    if grant == "client_credentials":
        raw = req.header("authorization")
        expected = base64.b64encode(f"{creds.consumer_key}:{creds.consumer_secret}".encode()).decode()
        if raw != f"Basic {expected}":
            return _oauth_error("invalid_client", "invalid client credentials")
        return _token_ok(app)
    return _oauth_error("unsupported_grant_type", "grant type not supported")


# ------------------------------------------------------------------ identity
def userinfo(app: SalesforceApp, req: Request) -> Response:
    """``GET /services/oauth2/userinfo``: who the session's user is, and in which org."""
    if not app.sessions.valid(bearer(req)):
        return _oauth_error("invalid_token", "Access token is invalid or expired", 403)
    creds, ver = app.options.credentials, app.options.api_version
    org, user = sf_id18(app.options.org_id), sf_id18(USER_ID)
    return json_response(
        200,
        {
            "sub": identity_url(app),
            "user_id": user,
            "organization_id": org,
            "preferred_username": creds.username,
            "nickname": "sandbox",
            "name": "Sandbox User",
            "email": creds.username,
            "zoneinfo": "Etc/UTC",
            "active": True,
            "user_type": "STANDARD",
            "urls": {
                "rest": f"{app.base_url}/services/data/v{{version}}/",
                "query": f"{app.base_url}/services/data/v{{version}}/query/",
                "sobjects": f"{app.base_url}/services/data/v{ver}/sobjects/",
            },
        },
    )
