"""Zoho CRM access tokens: the refresh-token grant of a server-based client, cached and renewed.

``POST {accounts_url}/oauth/v2/token`` with ``grant_type=refresh_token``, the client id and
secret and the refresh token as query parameters — where Zoho's OAuth documentation puts them
("Query parameters", accounts/protocol/oauth/.../access-token-expiry; every Zoho API's "Refresh
Access Token" page), so an accounts server that reads only the documented place grants too; the
secrets reach no crmseg message (network errors name host:port, the redactor knows both, and
urllib3's debug lines get the query masked) —
answers ``{"access_token", "api_domain", "expires_in": 3600, ...}``; a refusal also answers
HTTP 200, with ``{"error": "invalid_client" | "invalid_code" | "Access Denied"}``.

Why a cache shared by the connectors of one process (:class:`TokenCache`, one per accounts
server, client and refresh token): Zoho hands out at most 10 access tokens per refresh token in
10 minutes, so a daemon (or a script) opening a connector per run must not ask for a token per
run. The token is renewed :data:`RENEW_BEFORE` seconds before its hour runs out, under the
cache's lock, so threads never fetch two at once. After a 401 ``INVALID_TOKEN`` the connector
drops the refused token (:meth:`ZohoTokens.invalidate`; another thread may have renewed it
already, then nothing is dropped) and retries once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from crmseg.errors import AuthRefusedError, ConfigError, CrmsegError, RetriableError

_GRANT_QUERY = re.compile(r"(/oauth/v2/token)\?[^\s\"']*")


class _GrantQueryFilter(logging.Filter):
    """Masks the query of a token-endpoint URL in urllib3's debug lines: it holds the client
    secret and the refresh token (the grant's documented place, see the module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_GRANT_QUERY.sub(r"\1?***", a) if isinstance(a, str) else a for a in record.args)
        return True


_URLLIB3 = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _GrantQueryFilter) for f in _URLLIB3.filters):
    _URLLIB3.addFilter(_GrantQueryFilter())

#: Seconds before an access token's expiry at which it is renewed.
RENEW_BEFORE = 300.0
#: Accounts-server errors that refuse the client or its refresh token (never retried).
_REFUSED = frozenset({"invalid_client", "invalid_code", "invalid_client_secret", "unauthorized_client"})


@dataclass
class TokenCache:
    """One access token, its expiry (epoch seconds) and API domain, behind one lock."""

    token: str | None = None
    expires: float = 0.0
    api_domain: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


_SHARED: dict[str, TokenCache] = {}
_SHARED_LOCK = threading.Lock()


def shared_cache(accounts_url: str, client_id: str, refresh_token: str) -> TokenCache:
    """The process's cache for this accounts server, client and refresh token (see the module)."""
    key = hashlib.sha256(f"{accounts_url}\n{client_id}\n{refresh_token}".encode()).hexdigest()
    with _SHARED_LOCK:
        return _SHARED.setdefault(key, TokenCache())


class ZohoTokens:
    """Access tokens for one connector, through a :class:`TokenCache` (shared unless given)."""

    def __init__(
        self,
        *,
        accounts_url: str,
        client_id_env: str,
        client_secret_env: str,
        refresh_token_env: str,
        env: Mapping[str, str],
        timeout: float,
        on_call: Callable[[], None],
        secrets: Callable[..., None],
        cache: TokenCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        names = (client_id_env, client_secret_env, refresh_token_env)
        missing = [name for name in names if not env.get(name)]
        if missing:
            raise ConfigError(
                f"zoho: environment variable(s) {', '.join(missing)} (the Zoho API console client's id and secret, "
                "and the refresh token of its grant) not set"
            )
        self.url = f"{accounts_url.rstrip('/')}/oauth/v2/token"
        self._id, self._secret, self._refresh = (env[n] for n in names)
        secrets(self._secret, self._refresh)
        self.credential = (
            f"the refresh token in {refresh_token_env} "
            f"(client id from {client_id_env}, secret from {client_secret_env})"
        )
        self.cache = cache if cache is not None else shared_cache(accounts_url, self._id, self._refresh)
        self.timeout, self.on_call, self.clock, self._secrets = timeout, on_call, clock, secrets
        self._session = requests.Session()
        self._told: str | None = None

    @property
    def api_domain(self) -> str | None:
        """The API domain the accounts server named with the current token."""
        return self.cache.api_domain

    def token(self) -> str:
        """A token valid for at least :data:`RENEW_BEFORE` more seconds (renewed here if not)."""
        with self.cache.lock:
            c = self.cache
            if c.token is None or self.clock() >= c.expires - RENEW_BEFORE:
                c.token, c.expires, c.api_domain = self._grant()
            if c.token != self._told:  # a token this connector's redactor has not seen (granted, or cached)
                self._secrets(c.token)
                self._told = c.token
            return c.token

    def invalidate(self, refused: str | None) -> None:
        """Forget ``refused`` (the token a 401 answered): the next :meth:`token` asks for a new one."""
        with self.cache.lock:
            if self.cache.token == refused:
                self.cache.token, self.cache.expires = None, 0.0

    def close(self) -> None:
        self._session.close()

    def _grant(self) -> tuple[str, float, str | None]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._id,
            "client_secret": self._secret,
            "refresh_token": self._refresh,
        }
        self.on_call()
        started = self.clock()
        resp = self._session.post(self.url, params=form, timeout=self.timeout, headers={"Accept": "application/json"})
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RetriableError(f"zoho token: the accounts server answered HTTP {resp.status_code} without JSON", None)
        access = body.get("access_token")
        if resp.status_code == 200 and access:
            try:
                lifetime = float(body.get("expires_in") or 3600)
            except (TypeError, ValueError):
                lifetime = 3600.0
            domain = body.get("api_domain")
            return str(access), started + lifetime, str(domain).rstrip("/") if domain else None
        raise self._error(resp.status_code, body)

    def _error(self, status: int, body: Mapping[str, Any]) -> CrmsegError:
        code = str(body.get("error") or f"HTTP {status}")
        detail = " ".join(str(body.get("error_description") or "").split())[:300]
        if code in _REFUSED:
            return AuthRefusedError(f"Zoho's accounts server refused {self.credential} ({code}) at zoho token")
        return RetriableError(
            f"zoho token: the accounts server answered {code}" + (f": {detail}" if detail else ""), 60.0
        )
