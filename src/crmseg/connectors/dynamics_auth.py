"""Entra ID access tokens for Dynamics 365, through msal (OAuth 2.0 client credentials).

msal's ``ConfidentialClientApplication`` caches the token and answers from its cache until
the token is about to expire, so :meth:`MsalTokens.token` is called before every Dataverse
call and renews in time by itself. After a 401, :meth:`MsalTokens.invalidate` drops the
cached token (msal would otherwise hand the refused one out again).

msal refuses a plain-http authority, so a loopback authority (the sandbox) is reached by
keeping the real ``https://login.microsoftonline.com/<tenant>`` authority and giving msal an
HTTP client that routes that host's URLs to the loopback one (:class:`RoutedSession`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from crmseg.errors import AuthRefusedError, ConfigError, CrmsegError, RetriableError

#: The public cloud's Entra ID host: the authority msal is given when a loopback one stands in.
PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
#: msal error codes that refuse the application's credentials (never retried).
_REFUSED = frozenset({"invalid_client", "unauthorized_client", "invalid_scope", "invalid_request", "invalid_grant"})


class TokenSource(Protocol):
    """Where a connector gets its bearer token; injectable so tests and other clouds fit."""

    def token(self) -> str:
        """A valid access token (cached until shortly before it expires)."""
        ...

    def invalidate(self) -> None:
        """Forget the cached token: the next :meth:`token` asks Entra ID again."""
        ...


class RoutedSession(requests.Session):
    """A requests session (msal's HTTP client) that sends ``from_base`` URLs to ``to_base``,
    counts each call (``on_call``) and applies one timeout."""

    def __init__(self, from_base: str, to_base: str, timeout: float, on_call: Callable[[], None]) -> None:
        super().__init__()
        self.from_base, self.to_base = from_base.rstrip("/"), to_base.rstrip("/")
        self.timeout, self.on_call = timeout, on_call

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        verb = method.decode() if isinstance(method, bytes) else method
        text = url.decode() if isinstance(url, bytes) else url
        if text.startswith(self.from_base):
            text = self.to_base + text[len(self.from_base) :]
        kwargs.setdefault("timeout", self.timeout)
        self.on_call()
        return super().request(verb, text, *args, **kwargs)


def is_loopback_http(url: str) -> bool:
    """Whether ``url`` is plain http (config validation allows that only for loopback hosts)."""
    return urlsplit(url).scheme == "http"


class MsalTokens:
    """Client-credentials tokens for ``<environment_url>/.default`` from the tenant's authority."""

    def __init__(
        self,
        *,
        tenant_id: str,
        authority_url: str,
        environment_url: str,
        client_id_env: str,
        client_secret_env: str,
        env: Mapping[str, str],
        timeout: float,
        on_call: Callable[[], None],
        secrets: Callable[..., None],
    ) -> None:
        missing = [name for name in (client_id_env, client_secret_env) if not env.get(name)]
        if missing:
            raise ConfigError(
                f"dynamics: environment variable(s) {', '.join(missing)} (the Entra ID application's client id "
                "and secret) not set"
            )
        self.client_id, self._secret = env[client_id_env], env[client_secret_env]
        secrets(self._secret)
        self.credential = f"the client secret in {client_secret_env} (client id from {client_id_env})"
        routed = is_loopback_http(authority_url)
        self.authority = f"{PUBLIC_AUTHORITY if routed else authority_url}/{tenant_id}"
        self.scope = f"{environment_url.rstrip('/')}/.default"
        self._http = RoutedSession(PUBLIC_AUTHORITY, authority_url, timeout, on_call)
        self._secrets = secrets
        self._app: Any = None

    def _application(self) -> Any:
        if self._app is None:
            import msal

            self._app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._secret,
                authority=self.authority,
                http_client=self._http,
                instance_discovery=False,  # the authority is given; no discovery call
            )
        return self._app

    def token(self) -> str:
        result = self._application().acquire_token_for_client(scopes=[self.scope])
        access = result.get("access_token") if isinstance(result, dict) else None
        if access:
            self._secrets(access)
            return str(access)
        raise self._error(result if isinstance(result, dict) else {})

    def invalidate(self) -> None:
        if self._app is not None:
            self._app.remove_tokens_for_client()

    def _error(self, result: Mapping[str, Any]) -> CrmsegError:
        code = str(result.get("error") or "no_token")
        detail = " ".join(str(result.get("error_description") or "").split())[:300]
        if code in _REFUSED:
            return AuthRefusedError(
                f"Microsoft Entra ID refused {self.credential} ({code}: {detail}) at dynamics token"
            )
        return RetriableError(f"dynamics token: Entra ID answered {code}" + (f": {detail}" if detail else ""), None)
