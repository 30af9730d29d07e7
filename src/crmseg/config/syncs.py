"""A config's ``[syncs.NAME]`` tables: one model per connector (files, Salesforce, HubSpot,
Dynamics 365, Zoho CRM), their shared keys and the defaults."""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from crmseg.config.loading import StrictModel, parse_interval
from crmseg.errors import ConfigError

CHANGES_FILE = "{sync}-changes.csv"
"""A file sync's import-ready changes file unless ``changes_path`` names one (beside config.toml)."""
#: A sync's default ``api_reserve``: the share of the daily API allowance left for other integrations.
DEFAULT_RESERVE = "5%"


def parse_reserve(value: int | str | None) -> tuple[int, float]:
    """(calls, share) from ``5000`` or ``"10%"``; exactly one of them is non-zero."""
    if value is None:
        value = DEFAULT_RESERVE
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(f"api_reserve {value} must be >= 0")
        return value, 0.0
    text = str(value).strip()
    if text.endswith("%"):
        try:
            share = float(text[:-1]) / 100.0
        except ValueError:
            share = -1.0
        if 0.0 <= share < 1.0:
            return 0, share
    raise ConfigError(f'api_reserve {value!r} must be a number of calls (5000) or a share like "10%" (0-99%)')


def parse_max_changes(value: int | str) -> tuple[int | None, float | None]:
    """(count, share) from ``500`` or ``"20%"`` (a sync's ``max_changes``); exactly one is set."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value >= 0:
            return value, None
    elif isinstance(value, str) and value.strip().endswith("%"):
        try:
            share = float(value.strip()[:-1]) / 100.0
        except ValueError:
            share = -1.0
        if 0.0 <= share <= 1.0:
            return None, share
    raise ConfigError(
        f"max_changes {value!r} must be a number of accounts (500) "
        'or a share of the sync\'s accounts like "20%" (0-100%)'
    )


class _SyncBase(StrictModel):
    loader_keys: ClassVar[frozenset[str]] = frozenset({"name"})
    mapping: str | None = None
    rules: str = "rules"
    engine: Literal["auto", "durable", "native"] = "auto"
    interval: str | None = None  # "15m", "1h", "1d"
    cron: str | None = None  # standard 5-field crontab
    drift_alert_psi: float | None = Field(default=None, gt=0, le=10)  # PSI: 0.1 moderate, 0.25 large shift
    min_segment_size: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1, le=10_000)
    api_reserve: int | str = "5%"  # calls, or a share of the daily allowance, kept for other integrations
    #: The change guard: a run that would change more accounts' tags writes nothing (count or "20%").
    max_changes: int | str | None = None
    changes_path: str | None = None  # csv/jsonl syncs: where the import-ready changes file goes (CHANGES_FILE)
    full_every: str | None = "7d"  # a full read at least this often (finds deleted/archived records)
    name: str = ""

    @field_validator("api_reserve")
    @classmethod
    def _reserve(cls, v: int | str) -> int | str:
        try:
            parse_reserve(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("max_changes")
    @classmethod
    def _max_changes(cls, v: int | str | None) -> int | str | None:
        if v is not None:
            try:
                parse_max_changes(v)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v

        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(v, timezone=UTC)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"{v!r} is not a 5-field crontab (minute hour day month weekday, e.g. '*/15 * * * *'): {exc}"
            ) from None
        return v

    @field_validator("interval", "full_every")
    @classmethod
    def _interval(cls, v: str | None) -> str | None:
        if v is not None and parse_interval(v) is None:
            raise ValueError(f"interval {v!r} must look like 30s, 15m, 2h or 1d")
        return v


def check_endpoint(value: str) -> str:
    """A CRM base URL: ``https://host[:port][/path]``, or ``http://`` only to a loopback host.

    Credentials travel with every request, so plain HTTP to any other host is refused
    (before any connection is opened), as is anything that is not a URL."""
    import ipaddress
    from urllib.parse import urlsplit

    text = value.strip()
    try:
        u = urlsplit(text)
        host, _ = u.hostname, u.port  # .port raises ValueError when out of range or not a number
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a URL ({exc})") from None
    if u.scheme not in ("http", "https") or not host or " " in text or u.query or u.fragment:
        raise ValueError(f"{value!r} is not a URL; expected https://HOST (e.g. https://mycompany.my.salesforce.com)")
    if u.username or u.password:
        raise ValueError("the URL must not hold credentials; they come from the environment")
    if u.scheme == "http":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host.lower() == "localhost"
        if not loopback:
            raise ValueError(
                f"{value!r} uses plain http:// to a host that is not loopback: the access token would "
                "travel in the clear; use https:// (http:// is allowed only for 127.0.0.1, ::1, localhost)"
            )
    return text


class FileSync(_SyncBase):
    connector: Literal["csv", "jsonl"]
    path: str
    delimiter: str | None = None  # detected from the header unless given (",", ";", "tab", "|")
    encoding: str = "utf-8"
    skip_bad_rows: bool = False  # leave out (and count) bad rows instead of stopping
    #: A deals file (CSV/JSONL, relative to the config) read after the accounts in each run.
    deals: str | None = None

    @field_validator("deals", mode="before")
    @classmethod
    def _deals_file(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, str):
            raise ValueError(
                f'a csv/jsonl sync reads deals from a file: deals = "deals.csv" (a path relative to the '
                f"config, .csv or .jsonl), got {v!r}"
            )
        suffix = Path(v).suffix.lower()
        if not v.strip() or suffix not in (".csv", ".jsonl", ".ndjson"):
            raise ValueError(f"{v!r} is not a deals file: the path must end in .csv, .jsonl or .ndjson")
        return v


class SalesforceSync(_SyncBase):
    connector: Literal["salesforce"]
    # recommended: "client_credentials" or "jwt" (OAuth 2.0); "password" is SOAP login(), which
    # Salesforce retires (unavailable from API 65.0, off in new orgs): kept, with a warning
    auth: Literal["client_credentials", "jwt", "password", "session"] = "password"
    instance_url: str | None = None
    domain: str = "login"
    api_version: str = "59.0"
    username_env: str = "SF_USERNAME"
    password_env: str = "SF_PASSWORD"
    security_token_env: str = "SF_SECURITY_TOKEN"
    consumer_key_env: str = "SF_CONSUMER_KEY"
    consumer_secret_env: str = "SF_CONSUMER_SECRET"
    private_key_file_env: str = "SF_PRIVATE_KEY_FILE"
    session_id_env: str = "SF_SESSION_ID"
    page_size: int = Field(default=2000, ge=200, le=2000)

    @field_validator("instance_url")
    @classmethod
    def _instance_url(cls, v: str | None) -> str | None:
        return None if v is None else check_endpoint(v)

    @model_validator(mode="after")
    def _my_domain(self) -> SalesforceSync:
        if self.auth == "client_credentials" and not self.instance_url and self.domain in ("login", "test"):
            raise ValueError(
                "auth = 'client_credentials' needs your My Domain: instance_url = "
                '"https://MYDOMAIN.my.salesforce.com" (or domain = "MYDOMAIN.my")'
            )
        return self

    bulk_threshold: int = 10_000
    timeout: float = Field(default=60.0, gt=0, le=600)  # seconds to wait for one answer
    deals: bool = False  # read Opportunities after the accounts in each run (the mapping's [deals])


class HubSpotSync(_SyncBase):
    connector: Literal["hubspot"]
    host: str = "https://api.hubapi.com"
    access_token_env: str = "HUBSPOT_ACCESS_TOKEN"
    provision: bool = False
    timeout: float = Field(default=30.0, gt=0, le=600)  # seconds to wait for one answer
    deals: bool = False  # read deals after the companies in each run (the mapping's [deals])

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        return check_endpoint(v)


class DynamicsSync(_SyncBase):
    """Dynamics 365 (Dataverse Web API) with an Entra ID application user (client credentials)."""

    connector: Literal["dynamics"]
    environment_url: str  # https://ORG.crm.dynamics.com (the environment's Web API host)
    tenant_id: str  # the Entra ID tenant (directory) id or domain
    #: The Entra ID host; another cloud's (https://login.microsoftonline.us), or a loopback sandbox.
    authority_url: str = "https://login.microsoftonline.com"
    client_id_env: str = "DYNAMICS_CLIENT_ID"
    client_secret_env: str = "DYNAMICS_CLIENT_SECRET"
    #: A certificate instead of the secret: the variable names a PEM file (private key and
    #: certificate) or a .pfx/.p12; when it is set, the secret is not used.
    client_certificate_env: str = "DYNAMICS_CLIENT_CERTIFICATE"
    client_certificate_password_env: str = "DYNAMICS_CLIENT_CERTIFICATE_PASSWORD"  # for an encrypted key
    api_version: str = "9.2"
    page_size: int = Field(default=5000, ge=1, le=5000)  # Prefer: odata.maxpagesize (Dataverse's maximum)
    timeout: float = Field(default=60.0, gt=0, le=600)  # seconds to wait for one answer
    deals: bool = False  # read opportunities after the accounts in each run (the mapping's [deals])
    #: Read changes through Dataverse change tracking (delta links, deletions included) when the
    #: account table has it on; false: by ``modifiedon``, as for tables without it.
    change_tracking: bool = True

    @field_validator("environment_url", "authority_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_endpoint(v).rstrip("/")

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.-]+", v):
            raise ValueError(f"{v!r} is not a tenant id (a GUID or a domain such as contoso.onmicrosoft.com)")
        return v


#: Automation a Zoho update may fire (its ``trigger``): none unless a sync names some.
ZohoTrigger = Literal["workflow", "approval", "blueprint", "pathfinder", "orchestration"]


class ZohoSync(_SyncBase):
    """Zoho CRM (REST API v8) through a server-based client's refresh token (docs/zoho.md)."""

    connector: Literal["zoho"]
    #: The accounts server of the org's data centre (https://accounts.zoho.eu, .in, .com.au, .jp,
    #: .com.cn, https://accounts.zohocloud.ca, https://accounts.zoho.sa, ...), or a loopback sandbox.
    accounts_url: str = "https://accounts.zoho.com"
    #: The CRM's API domain; left out, the one the accounts server names with each token.
    api_domain: str | None = None
    client_id_env: str = "ZOHO_CLIENT_ID"
    client_secret_env: str = "ZOHO_CLIENT_SECRET"
    refresh_token_env: str = "ZOHO_REFRESH_TOKEN"
    page_size: int = Field(default=200, ge=1, le=200)  # per_page (Zoho's maximum is 200)
    #: A full read of at least this many accounts (as the last run left them) goes through Bulk
    #: Read: 50 credits and a few calls a job of 200,000, against one per 200-account page; the
    #: credits cross over near 10,400 accounts, and 20,000 leaves room for the job's status polls
    #: (docs/zoho.md). 0: every full read, the first included.
    bulk_read_threshold: int = Field(default=20_000, ge=0)
    #: The org's API credits per rolling 24 hours (Setup > Developer Hub > APIs > API Dashboard);
    #: Zoho reports what is left only past half of them (docs/zoho.md: how crmseg counts).
    api_credits: int = Field(default=50_000, ge=1)
    #: The automation crmseg's updates may fire; none by default (``"trigger": []``).
    triggers: list[ZohoTrigger] = Field(default_factory=list)
    timeout: float = Field(default=60.0, gt=0, le=600)  # seconds to wait for one answer
    deals: bool = False  # read the Deals module after the accounts in each run (the mapping's [deals])

    @field_validator("accounts_url", "api_domain")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_endpoint(v).rstrip("/")


SyncConfig = Annotated[
    FileSync | SalesforceSync | HubSpotSync | DynamicsSync | ZohoSync, Field(discriminator="connector")
]
