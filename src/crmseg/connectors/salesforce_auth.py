"""Salesforce login: the credentials one sync names and the flow that turns them into a session.

Four flows (``auth`` in the sync's config): username + password + security token (SOAP
``login()``), OAuth 2.0 client credentials (consumer key + secret), OAuth 2.0 JWT bearer
(consumer key + private key file) or an existing session id + instance URL. Credentials come
only from the environment variables the config names, and are checked when the connector is
built (a missing variable or an unreadable key is a ConfigError naming it).

``instance_url`` may be plain ``http://127.0.0.1:PORT``: :meth:`SalesforceAuth.login` logs in
against it itself (SOAP login via simple-salesforce's ``scratch_url``, or its ``token_login``
for the OAuth flows) and answers the session id and the REST base the connector hands to
``Salesforce(session_id=..., instance_url=...)``.

The org-id helpers read the org an OAuth token answer names (its ``id`` URL), which the
connector uses as its identity without an extra call.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jwt
import requests
from simple_salesforce.login import SalesforceLogin, token_login

from crmseg.config import SalesforceSync
from crmseg.errors import ConfigError

ORG_ID = re.compile(r"^00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")


def org_from_id_url(url: Any) -> str | None:
    """The org id (15 characters) in an OAuth identity URL ``https://login.salesforce.com/id/<org>/<user>``."""
    if not isinstance(url, str):
        return None
    parts = urlparse(url).path.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "id" and ORG_ID.fullmatch(parts[1]):
        return parts[1][:15]
    return None


def org_id15(value: Any) -> str | None:
    """An org id (15 or 18 characters, as SOQL or the identity URL spell it) in its 15-character form."""
    return value[:15] if isinstance(value, str) and ORG_ID.fullmatch(value) else None


class SalesforceAuth:
    """The credentials of one Salesforce sync, read from the environment, and its login.

    ``secrets`` (the retry policy's redactor) is given every credential value and each session
    id a login answers, so none reaches a message."""

    def __init__(self, cfg: SalesforceSync, env: Mapping[str, str], secrets: Callable[..., None]) -> None:
        self.cfg = cfg
        #: Credential -> the environment variable the config names for it, for this auth flow.
        self.variables = {
            "password": {"username": cfg.username_env, "password": cfg.password_env, "token": cfg.security_token_env},
            "jwt": {
                "username": cfg.username_env,
                "consumer_key": cfg.consumer_key_env,
                "key_file": cfg.private_key_file_env,
            },
            "client_credentials": {"consumer_key": cfg.consumer_key_env, "consumer_secret": cfg.consumer_secret_env},
            "session": {"session_id": cfg.session_id_env},
        }[cfg.auth]
        missing = [var for var in self.variables.values() if not env.get(var)]
        if missing:
            raise ConfigError(
                f"{cfg.name or 'salesforce'}: auth = {cfg.auth!r} needs environment variable(s) {', '.join(missing)}"
            )
        if cfg.auth == "session" and not cfg.instance_url:
            raise ConfigError(f"{cfg.name or 'salesforce'}: auth = 'session' needs instance_url")
        self._creds = {key: env[var] for key, var in self.variables.items()}
        if cfg.auth == "jwt":
            _check_private_key(Path(self._creds["key_file"]), cfg.private_key_file_env, cfg.name or "salesforce")
        self._secrets = secrets
        secrets(*self._creds.values())
        if "password" in self._creds:  # SOAP login sends password + security token as one word
            secrets(self._creds["password"] + self._creds["token"])

    def credential_text(self) -> str:
        """Where this sync's credentials come from, for a refusal's message: the environment
        variables the config names for its auth flow (their values are never shown)."""
        names = list(self.variables.values())
        if self.cfg.auth == "session":
            return f"the session id in {names[0]}"
        return f"the {self.cfg.auth} login with the credentials in {', '.join(names[:-1])} and {names[-1]}"

    def base(self) -> str | None:
        """The configured instance URL as a scheme://host base, or None when none is set."""
        if not self.cfg.instance_url:
            return None
        u = urlparse(self.cfg.instance_url)
        return f"{u.scheme or 'https'}://{u.netloc or u.path}".rstrip("/")

    def login(self, session: requests.Session) -> tuple[str, str]:
        """(session id, REST base URL) for the configured auth flow, every call through ``session``."""
        cfg, c, base = self.cfg, self._creds, self.base()
        if cfg.auth == "session":
            assert base is not None  # __init__ refused auth = 'session' without instance_url
            return c["session_id"], base
        if cfg.auth == "client_credentials":
            token_url = f"{base or f'https://{cfg.domain}.salesforce.com'}/services/oauth2/token"
            basic = base64.b64encode(f"{c['consumer_key']}:{c['consumer_secret']}".encode()).decode()
            sid, host = token_login(
                token_url,
                {"grant_type": "client_credentials"},
                cfg.domain,
                c["consumer_key"],
                {"Authorization": f"Basic {basic}"},
                None,
                session,
            )
        elif cfg.auth == "password":
            # scratch_url only when set: older simple-salesforce releases have no such SalesforceLogin parameter
            extra: dict[str, Any] = {"scratch_url": base} if base else {}
            sid, host = SalesforceLogin(
                username=c["username"],
                password=c["password"],
                security_token=c["token"],
                sf_version=cfg.api_version,
                session=session,
                domain=cfg.domain,
                **extra,
            )
        elif base:
            sid, host = token_login(
                f"{base}/services/oauth2/token",
                self._jwt_grant(),
                cfg.domain,
                c["consumer_key"],
                None,
                None,
                session,
            )
        else:
            sid, host = SalesforceLogin(
                username=c["username"],
                consumer_key=c["consumer_key"],
                privatekey_file=c["key_file"],
                domain=cfg.domain,
                session=session,
            )
        self._secrets(sid)
        return sid, base or f"https://{host}"

    def _jwt_grant(self) -> dict[str, str]:
        c = self._creds
        exp = int(datetime.now(UTC).timestamp()) + 180
        claims = {
            "iss": c["consumer_key"],
            "sub": c["username"],
            "aud": f"https://{self.cfg.domain}.salesforce.com",
            "exp": exp,
        }
        assertion = jwt.encode(claims, Path(c["key_file"]).read_bytes(), algorithm="RS256")
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}


def _check_private_key(path: Path, env_var: str, name: str) -> None:
    """The JWT private key must exist and be an RSA key in PEM form (ConfigError naming the variable)."""
    where = f"{name}: the private key file named by {env_var} ({path})"
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{where} not found") from None
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror}") from None
    try:
        jwt.encode({"check": 1}, pem, algorithm="RS256")
    except Exception:
        raise ConfigError(f"{where} is not an RSA private key in PEM form (-----BEGIN PRIVATE KEY----- ...)") from None
