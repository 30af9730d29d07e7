"""Entra ID access tokens for Dynamics 365, through msal (OAuth 2.0 client credentials).

The application proves itself with a client secret or, when the certificate variable is set,
with a certificate: a PEM file holding the private key and the certificate (as ``az ad sp
create-for-rbac --create-cert`` writes it) or a PKCS#12 ``.pfx``/``.p12`` file; msal signs a
client assertion (PS256, the certificate's SHA-256 thumbprint) and the secret is not needed.

msal's ``ConfidentialClientApplication`` caches the token and answers from its cache until
the token is about to expire, so :meth:`MsalTokens.token` is called before every Dataverse
call and renews in time by itself. After a 401, :meth:`MsalTokens.invalidate` drops the
cached token (msal would otherwise hand the refused one out again).

msal refuses a plain-http authority, so a loopback authority (the sandbox) is reached by
keeping the real ``https://login.microsoftonline.com/<tenant>`` authority and giving msal an
HTTP client that routes that host's URLs to the loopback one (:class:`RoutedSession`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
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


def certificate_credential(path: str, variable: str, password: str | None) -> dict[str, str]:
    """msal's ``client_credential`` for the certificate file at ``path`` (named by ``variable``):
    PEM with the private key and the certificate, or PKCS#12. ConfigError names the variable and
    what is wrong; the key itself is never put in a message."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12

    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"dynamics: {variable}: cannot read the certificate file {path} ({exc.strerror})") from None
    secret = password.encode() if password else None
    if file.suffix.lower() in (".pfx", ".p12"):
        try:
            key, cert, _ = pkcs12.load_key_and_certificates(data, secret)
        except ValueError:
            raise ConfigError(f"dynamics: {variable}: {path} is not a PKCS#12 file this password opens") from None
        if key is None or cert is None:
            raise ConfigError(f"dynamics: {variable}: {path} lacks the private key or the certificate")
        out = {"private_key_pfx_path": str(file)}
        return {**out, "passphrase": password} if password else out
    text = data.decode("ascii", "replace")
    key_pem = _pem_block(text, "PRIVATE KEY")
    cert_pem = _pem_block(text, "CERTIFICATE")
    if key_pem is None or cert_pem is None:
        raise ConfigError(
            f"dynamics: {variable}: {path} needs the private key and the certificate in PEM "
            "(-----BEGIN PRIVATE KEY----- and -----BEGIN CERTIFICATE-----), or a .pfx/.p12 file"
        )
    try:
        load_pem_private_key(key_pem.encode(), secret)
        x509.load_pem_x509_certificate(cert_pem.encode())
    except (ValueError, TypeError) as exc:
        why = (
            "a password is needed or wrong"
            if "password" in str(exc).lower() or "encrypted" in str(exc).lower()
            else "unreadable"
        )
        raise ConfigError(f"dynamics: {variable}: the key or certificate in {path} is {why}") from None
    out = {"private_key": key_pem, "public_certificate": cert_pem}
    return {**out, "passphrase": password} if password else out


def _pem_block(text: str, kind: str) -> str | None:
    """The first PEM block whose label ends with ``kind`` (``PRIVATE KEY`` also matches ``RSA
    PRIVATE KEY`` and ``ENCRYPTED PRIVATE KEY``)."""
    m = re.search(rf"-----BEGIN ([A-Z ]*{kind})-----.+?-----END \1-----", text, re.S)
    return m.group(0) if m else None


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
        client_certificate_env: str = "DYNAMICS_CLIENT_CERTIFICATE",
        client_certificate_password_env: str = "DYNAMICS_CLIENT_CERTIFICATE_PASSWORD",
    ) -> None:
        if not env.get(client_id_env):
            raise ConfigError(
                f"dynamics: environment variable {client_id_env} (the Entra ID application's client id) not set"
            )
        self.client_id = env[client_id_env]
        self._secret: str | dict[str, str]
        if env.get(client_certificate_env):
            password = env.get(client_certificate_password_env) or None
            if password:
                secrets(password)
            self._secret = certificate_credential(env[client_certificate_env], client_certificate_env, password)
            self.credential = f"the certificate in {client_certificate_env} (client id from {client_id_env})"
        elif env.get(client_secret_env):
            self._secret = env[client_secret_env]
            secrets(self._secret)
            self.credential = f"the client secret in {client_secret_env} (client id from {client_id_env})"
        else:
            raise ConfigError(
                f"dynamics: neither {client_secret_env} (the Entra ID application's client secret) nor "
                f"{client_certificate_env} (a certificate file) is set"
            )
        routed = is_loopback_http(authority_url)
        self.authority = f"{PUBLIC_AUTHORITY if routed else authority_url}/{tenant_id}"
        self.scope = f"{environment_url.rstrip('/')}/.default"
        self._http = RoutedSession(PUBLIC_AUTHORITY, authority_url, timeout, on_call)
        self._secrets = secrets
        self._app: Any = None

    def _application(self) -> Any:
        if self._app is None:
            import msal

            try:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=self._secret,
                    authority=self.authority,
                    http_client=self._http,
                    instance_discovery=False,  # the authority is given; no discovery call
                )
            except (ValueError, msal.exceptions.MsalServiceError) as exc:  # it reads the OpenID metadata first
                raise self._msal_error(exc) from None
        return self._app

    def token(self) -> str:
        import msal

        app = self._application()
        try:
            result = app.acquire_token_for_client(scopes=[self.scope])
        except (ValueError, msal.exceptions.MsalServiceError) as exc:  # a 5xx, or an answer msal cannot parse
            raise self._msal_error(exc) from None
        access = result.get("access_token") if isinstance(result, dict) else None
        if access:
            self._secrets(access)
            return str(access)
        raise self._error(result if isinstance(result, dict) else {})

    def invalidate(self) -> None:
        if self._app is not None:
            self._app.remove_tokens_for_client()

    def _msal_error(self, exc: Exception) -> CrmsegError:
        """What an exception from msal means. msal raises rather than answers when Entra ID's
        OpenID metadata (read as msal starts) or token endpoint fails: a 4xx on the metadata is
        an unknown tenant (not retried); 429, 5xx or an unreadable answer are retried; anything
        else is msal refusing the credential's form (a config error)."""
        text = " ".join(str(e) for e in (exc.__context__, exc) if e is not None)
        found = re.search(r"HTTP (?:status: |Error: )(\d{3})", text)
        status = int(found.group(1)) if found else None
        known = status is not None or "OIDC Discovery failed" in text or "authority configuration" in text
        if not known and isinstance(exc, ValueError) and "Expecting value" not in text:
            return ConfigError(f"dynamics: msal cannot use {self.credential}: {' '.join(str(exc).split())[:200]}")
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            return AuthRefusedError(
                f"Microsoft Entra ID does not know the tenant in {self.authority} (HTTP {status} on its OpenID "
                "metadata; check tenant_id) at dynamics token"
            )
        return RetriableError(f"dynamics token: Entra ID answered {status or 'nothing readable'}")

    def _error(self, result: Mapping[str, Any]) -> CrmsegError:
        code = str(result.get("error") or "no_token")
        detail = " ".join(str(result.get("error_description") or "").split())[:300]
        if code in _REFUSED:
            return AuthRefusedError(
                f"Microsoft Entra ID refused {self.credential} ({code}: {detail}) at dynamics token"
            )
        return RetriableError(f"dynamics token: Entra ID answered {code}" + (f": {detail}" if detail else ""), None)
