"""Pointing the real client libraries at a sandbox on plain ``http://127.0.0.1:PORT``.

simple-salesforce builds every URL as ``https://{instance}/...`` (``base_url``, ``SFType``,
``query_more(..., identifier_is_url=True)``, ``bulk2``). Instead of patching it, give it a
``requests.Session`` on which ``PlainHttpAdapter`` is mounted for ``https://127.0.0.1:PORT/``:
that adapter sends those requests over plain http to the same host and port. Everything
else (other hosts) is untouched. Login uses the library's own functions with URLs we
choose: ``SalesforceLogin(..., scratch_url=URL)`` posts the SOAP login to
``URL/services/Soap/u/<ver>``; for JWT, ``simple_salesforce.login.token_login(URL +
"/services/oauth2/token", ...)``. Exact recipes::

    session = plain_http_session(url)
    sid, _ = SalesforceLogin(username=u, password=p, security_token=t, sf_version="59.0",
                             scratch_url=url, session=session)
    sf = Salesforce(session_id=sid, instance_url=url, session=session, version="59.0")

    hs = hubspot.HubSpot(access_token=token, host=url)   # urllib3; honours http hosts

A session built this way does not refresh itself on ``INVALID_SESSION_ID`` (simple-salesforce
only refreshes sessions it logged in itself, with ``https://{domain}.salesforce.com``):
log in again and build a new client.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from hubspot import HubSpot
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.login import token_login

from crmseg.sandbox.defaults import Credentials


class PlainHttpAdapter(HTTPAdapter):
    """Sends ``https://host:port/...`` requests as ``http://host:port/...`` (mount it per origin)."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.url and request.url.startswith("https://"):
            request.url = "http://" + request.url[len("https://") :]
        return super().send(request, *args, **kwargs)


def plain_http_session(url: str, session: requests.Session | None = None) -> requests.Session:
    """A session that reaches the http ``url``'s origin even when a library asks for https."""
    parts = urlsplit(url)
    s = session or requests.Session()
    if parts.scheme == "http":
        s.mount(f"https://{parts.netloc}/", PlainHttpAdapter())
        s.trust_env = False  # a loopback sandbox never goes through a proxy
    return s


def salesforce_login(
    url: str, creds: Credentials | None = None, version: str = "59.0", session: requests.Session | None = None
) -> str:
    """Username + password + security token login (SOAP) against ``url``; returns the session id."""
    c = creds or Credentials()
    sid, _instance = SalesforceLogin(
        username=c.username,
        password=c.password,
        security_token=c.security_token,
        sf_version=version,
        scratch_url=url,
        session=session,
    )
    return sid


def salesforce_jwt_login(
    url: str, private_key: str | bytes, creds: Credentials | None = None, session: requests.Session | None = None
) -> str:
    """OAuth 2.0 JWT bearer login against ``url``; returns the access token."""
    c = creds or Credentials()
    claims = {
        "iss": c.consumer_key,
        "sub": c.username,
        "aud": "https://login.salesforce.com",
        "exp": int((datetime.now(UTC) + timedelta(minutes=3)).timestamp()),
    }
    assertion = jwt.encode(claims, private_key, algorithm="RS256")
    data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    token, _instance = token_login(f"{url}/services/oauth2/token", data, "login", c.consumer_key, None, None, session)
    return str(token)


def salesforce_client(
    url: str, session_id: str | None = None, creds: Credentials | None = None, version: str = "59.0"
) -> Salesforce:
    """A simple-salesforce client for the sandbox at ``url`` (logs in unless ``session_id`` is given)."""
    session = plain_http_session(url)
    sid = session_id or salesforce_login(url, creds, version, session)
    return Salesforce(session_id=sid, instance_url=url, session=session, version=version)


def hubspot_client(url: str, token: str | None = None, **kwargs: Any) -> HubSpot:
    """A hubspot-api-client for the sandbox at ``url``."""
    return HubSpot(access_token=token or Credentials().hubspot_token, host=url, **kwargs)
