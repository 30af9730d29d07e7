"""The webhook of ``[alerts]``: its URL policy and delivery.

The URL comes from the environment variable ``webhook_url_env`` names and is a secret (Slack's
carry their token in the path): no message, log line or state row holds it — only its
scheme and host (:func:`where`). It must be ``https://``; ``http://`` only to a loopback
host (127.0.0.1, ::1, localhost: a local relay or a test). A missing or refused URL is a
:class:`~crmseg.errors.ConfigError` naming the variable (exit 2, before a run starts).

Delivery is one POST of JSON (requests) with ``timeout_s``, tried once more after a refused
connection, a timeout or a 429/5xx answer. The retry is a loop of its own, not urllib3's
``Retry``: urllib3 logs each of its retries with the request's path — the secret. A failure is
logged as the warning event ``alert_failed`` (scheme, host and the reason: never the URL) and
never raised: an alert never stops or fails a sync.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import MaxRetryError

from crmseg.alerts.events import AlertEvent
from crmseg.alerts.formats import FORMATS
from crmseg.config.alerts import AlertsConfig
from crmseg.errors import ConfigError

__all__ = ["Alerts", "check_webhook_url", "send_alert", "where"]

log = logging.getLogger("crmseg.alerts")

RETRY_STATUSES = (429, 500, 502, 503, 504)
TRIES = 2
RETRY_PAUSE_S = 0.2


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def check_webhook_url(url: str, env_name: str) -> str:
    """``url`` when it may receive alerts, else ConfigError naming ``env_name`` (never the URL)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        host, _ = parts.hostname, parts.port  # .port raises ValueError when it is not a number
    except ValueError:
        raise ConfigError(f"[alerts] the webhook URL in ${env_name} is not a URL (https://HOST/PATH)") from None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in text):
        raise ConfigError(f"[alerts] the webhook URL in ${env_name} is not an http(s) URL (https://HOST/PATH)")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigError(
            f"[alerts] the webhook URL in ${env_name} uses plain http:// to {host}, which is not a loopback "
            "host: the URL and the alerts would travel in the clear; use https:// "
            "(http:// is allowed only for 127.0.0.1, ::1 and localhost)"
        )
    return text


def where(url: str) -> str:
    """What may be shown of a webhook URL: its scheme and host (and port), never its path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _reason(exc: requests.RequestException, timeout_s: float) -> str:
    """Why a POST failed, in words that hold no URL (requests' messages quote the whole URL)."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout_s:g} s"
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:  # the OSError under urllib3's wrappers
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.strerror:
            return f"cannot connect: {cause.strerror}"
        cause = cause.reason if isinstance(cause, MaxRetryError) else (cause.__cause__ or cause.__context__)
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect"
    return type(exc).__name__


def _body(response: requests.Response, url: str) -> str:
    """A short error body (Slack answers ``invalid_payload``, ``no_service``...), unless it quotes the URL."""
    text = " ".join(response.text.split())[:100]
    path = urlsplit(url).path
    if not text or url in text or (len(path) > 1 and path in text):
        return ""
    return f" ({text})"


class Alerts:
    """The alerts of one loaded config: which events, in which format, to which webhook."""

    def __init__(self, config: AlertsConfig, url: str) -> None:
        """``url``: checked already (:func:`check_webhook_url`)."""
        self.config = config
        self._url = url
        self.where = where(url)
        self._format = FORMATS[config.format]

    @classmethod
    def from_config(cls, config: AlertsConfig | None, environ: Mapping[str, str] | None = None) -> Alerts | None:
        """The alerts ``[alerts]`` asks for (None without the table); ConfigError when its
        environment variable is unset or holds a URL the policy refuses."""
        if config is None:
            return None
        env = os.environ if environ is None else environ
        url = env.get(config.webhook_url_env, "").strip()
        if not url:
            raise ConfigError(
                f"[alerts] needs the webhook URL in the environment variable ${config.webhook_url_env}, which is "
                "not set (set it, or remove the [alerts] table)"
            )
        return cls(config, check_webhook_url(url, config.webhook_url_env))

    def wants(self, event: AlertEvent) -> bool:
        return event.event in self.config.events

    def send(self, event: AlertEvent) -> bool:
        """Post ``event`` if ``events`` wants it; True when the webhook took it (2xx). Never raises."""
        if not self.wants(event):
            return False
        fields: dict[str, Any] = {"alert": event.event, "sync": event.sync, "run_id": event.run_id}
        try:
            reason = self._post(self._format(event))
        except Exception as exc:  # an alert never fails the sync; the reason without its text, which may quote the URL
            reason = type(exc).__name__
        if reason is not None:
            return self._failed(event, reason, fields)
        log.info(
            "alert %s for sync %s sent to %s",
            event.event,
            event.sync,
            self.where,
            extra={"event": "alert_sent", "fields": {**fields, "webhook": self.where}},
        )
        return True

    def _post(self, payload: dict[str, Any]) -> str | None:
        """POST ``payload`` (a second try after a refused connection, a timeout, a 429/5xx; a
        duplicate alert beats a lost one, and Retry-After is not waited for: the run waits).
        None when the webhook took it, else why not."""
        reason = ""
        for attempt in range(TRIES):
            if attempt:
                time.sleep(RETRY_PAUSE_S)
            try:
                response = requests.post(self._url, json=payload, timeout=self.config.timeout_s, allow_redirects=False)
            except requests.RequestException as exc:
                reason = _reason(exc, self.config.timeout_s)
                continue
            if 200 <= response.status_code < 300:
                return None
            reason = f"HTTP {response.status_code}{_body(response, self._url)}"
            if response.status_code not in RETRY_STATUSES:
                break
        return reason

    def _failed(self, event: AlertEvent, reason: str, fields: dict[str, Any]) -> bool:
        log.warning(
            "alert %s for sync %s not delivered to %s: %s",
            event.event,
            event.sync,
            self.where,
            reason,
            extra={"event": "alert_failed", "fields": {**fields, "webhook": self.where, "reason": reason}},
        )
        return False


def send_alert(config: AlertsConfig | None, event: AlertEvent, environ: Mapping[str, str] | None = None) -> bool:
    """Send one event with ``config``'s webhook (the config was checked when it was loaded);
    a refused URL is logged like a failed delivery. Never raises."""
    try:
        alerts = Alerts.from_config(config, environ)
    except ConfigError as exc:
        log.warning("alert %s not sent: %s", event.event, exc, extra={"event": "alert_failed", "fields": {}})
        return False
    return alerts.send(event) if alerts is not None else False
