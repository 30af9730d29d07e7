"""Typed config (config.toml) and mapping files (connectors/*.toml), validated up front.

Every error names the file and the key, and lists the allowed values.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crmseg.config.alerts import AlertsConfig
from crmseg.config.review import ReviewConfig
from crmseg.errors import ConfigError

FieldType = Literal["str", "int", "float", "bool", "date", "datetime", "list"]
FIELD_TYPES: tuple[str, ...] = ("str", "int", "float", "bool", "date", "datetime", "list")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- mapping files
class FieldMap(_Strict):
    """Where one canonical field comes from, its type and normalization."""

    source: str | None = None  # CRM field; defaults to the canonical name
    type: FieldType = "str"
    normalize: Literal["country", "lower", "upper", "strip"] | None = None
    synonyms: dict[str, list[str]] = Field(default_factory=dict)
    separator: str = ";"  # list fields: how a CRM string splits into items


#: The canonical deal fields (read through a mapping's ``[deals.fields]``) and their fixed types;
#: ``status`` is read through ``[deals.status]``. Admins may map more fields, of any type.
DEAL_FIELDS: dict[str, FieldType] = {
    "id": "str",
    "account_id": "str",
    "amount": "float",
    "currency": "str",
    "created_at": "datetime",
    "closed_at": "date",
    "stage": "str",
    "pipeline": "str",
    "type": "str",
}
#: Deal fields every ``[deals]`` mapping must say where to read (``status`` too, in ``[deals.status]``).
DEAL_REQUIRED: tuple[str, ...] = ("id", "created_at")


class DealFieldMap(_Strict):
    """Where one deal field comes from: a CRM field (``source``) or, for ``account_id``, an association."""

    source: str | None = None  # CRM field; defaults to the canonical name
    type: FieldType | None = None  # canonical fields: their fixed type (may be restated); others: "str"
    #: ``amount`` only: the field holding the amount in the home currency, read instead of ``source``
    #: when the CRM has several currencies (HubSpot ``amount_in_home_currency``).
    home_source: str | None = None
    #: ``account_id`` only: the associated object whose (primary) record is the deal's account
    #: (HubSpot ``companies``); the connector puts its id in the raw record under this name.
    association: str | None = None

    @property
    def key(self) -> str | None:
        """The raw record's key holding the value (None: the canonical name)."""
        return self.association or self.source


class DealStatusMap(_Strict):
    """Where a deal's status comes from: one field holding open/won/lost, or a closed and a won flag."""

    source: str | None = None  # a field holding open, won or lost (any case)
    closed: str | None = None  # a boolean field: the deal is closed (Salesforce IsClosed, HubSpot hs_is_closed)
    won: str | None = None  # a boolean field: the deal is won (IsWon, hs_is_closed_won)

    @model_validator(mode="after")
    def _one_way(self) -> DealStatusMap:
        flags = (self.closed is not None, self.won is not None)
        if self.source is not None and any(flags):
            raise ValueError(
                "give either source (a field holding open/won/lost) or closed and won (two flags), not both"
            )
        if self.source is None and not all(flags):
            missing = " and ".join(k for k, f in zip(("closed", "won"), flags, strict=True) if not f)
            raise ValueError(
                f"needs {missing}: the status comes from source (a field holding open/won/lost) "
                "or from closed and won (two boolean fields)"
            )
        return self

    def sources(self) -> list[str]:
        """The CRM fields the status is read from."""
        return [s for s in (self.source, self.closed, self.won) if s is not None]


class DealsMapping(_Strict):
    """A mapping's ``[deals]`` part: which CRM field feeds each canonical deal field."""

    object: str | None = None  # the CRM object deals are read from (Opportunity, deals); files need none
    modified_field: str | None = None  # the field incremental deal reads filter on
    fields: dict[str, DealFieldMap]
    status: DealStatusMap

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, DealFieldMap]) -> dict[str, DealFieldMap]:
        problems: list[str] = []
        for need in DEAL_REQUIRED:
            if need not in v:
                problems.append(f"{need} is required (a [deals.fields.{need}] table; an empty one reads {need!r})")
        for name, fm in v.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                problems.append(f"canonical field name {name!r} must match [a-z][a-z0-9_]*")
            if name == "status":
                problems.append("status is read through [deals.status] (source, or closed and won), not fields")
            fixed = DEAL_FIELDS.get(name)
            if fixed is not None and fm.type is not None and fm.type != fixed:
                problems.append(
                    f"{name}.type must be {fixed!r} (a canonical deal field's type is fixed), not {fm.type!r}"
                )
            if fm.home_source is not None and name != "amount":
                problems.append(f"{name}.home_source applies to amount only")
            if fm.association is not None and name != "account_id":
                problems.append(f"{name}.association applies to account_id only")
            if fm.association is not None and fm.source is not None:
                problems.append(f"{name}: give source or association, not both")
        if problems:
            raise ValueError("; ".join(problems))
        return v

    def source_of(self, name: str) -> str:
        """The raw record's key holding canonical field ``name``."""
        fm = self.fields.get(name)
        return (fm.key if fm else None) or name

    def field_types(self) -> dict[str, FieldType]:
        """Canonical field -> type, every mapped field (extra ones default to "str")."""
        return {name: fm.type or DEAL_FIELDS.get(name, "str") for name, fm in self.fields.items()}

    def read_fields(self, multi_currency: bool = False) -> list[str]:
        """The CRM fields to read: every mapped source (associations are read apart), the status
        fields and the modified field; with ``multi_currency``, the home-currency amount too."""
        names = [self.source_of(name) for name, fm in self.fields.items() if fm.association is None]
        if multi_currency:
            names += [fm.home_source for fm in self.fields.values() if fm.home_source]
        names += self.status.sources()
        if self.modified_field:
            names.append(self.modified_field)
        return list(dict.fromkeys(names))


def canonical_deals_mapping() -> DealsMapping:
    """The ``[deals]`` mapping of a file with canonical column names (``--deals FILE``)."""
    return DealsMapping(fields={name: DealFieldMap() for name in DEAL_FIELDS}, status=DealStatusMap(source="status"))


class Mapping(_Strict):
    """A connector mapping: CRM fields -> canonical fields, dimensions -> CRM tag fields."""

    object: str = "Account"
    id_field: str = "id"
    modified_field: str | None = None
    pin_field: str | None = None
    fields: dict[str, FieldMap] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    tag_field_pattern: str | None = None  # e.g. "crmseg_{dimension}" for unlisted dimensions
    vocabulary: str | None = None  # the shared synonyms file, relative to the mapping (merged at load)
    deals: DealsMapping | None = None  # the [deals] part: where deals come from (None: not mapped)
    path: str = ""

    @field_validator("fields")
    @classmethod
    def _names(cls, v: dict[str, FieldMap]) -> dict[str, FieldMap]:
        for name in v:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"canonical field name {name!r} must match [a-z][a-z0-9_]*")
        return v

    def source_of(self, canonical: str) -> str:
        fm = self.fields.get(canonical)
        return fm.source if fm and fm.source else canonical

    def tag_field(self, dimension: str) -> str | None:
        """The CRM field that holds ``dimension``'s tag, or None when unmapped."""
        if dimension in self.tags:
            return self.tags[dimension]
        if self.tag_field_pattern:
            return self.tag_field_pattern.format(dimension=dimension)
        return None

    def vocabulary_file(self) -> Path | None:
        """The shared vocabulary file this mapping uses, or None."""
        from crmseg.config.vocabulary import vocabulary_path

        return vocabulary_path(self.path or ".", self.vocabulary) if self.vocabulary else None

    def field_types(self) -> dict[str, str]:
        return {name: fm.type for name, fm in self.fields.items()}


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping TOML file."""
    from crmseg.config.vocabulary import load_vocabulary, merge_vocabulary, vocabulary_path

    p = Path(path)
    data = _read_toml(p)
    data["path"] = str(p)
    vocab = data.get("vocabulary")
    if vocab is not None:
        if not isinstance(vocab, str):
            raise ConfigError(f'{p}: vocabulary must be a file name, e.g. "vocabulary.toml"')
        merge_vocabulary(data, load_vocabulary(vocabulary_path(p, vocab)), str(p))
    return _validate(Mapping, data, p)


# ---------------------------------------------------------------- config.toml
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


class _SyncBase(_Strict):
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


class StateConfig(_Strict):
    """Where sync state lives: a SQLite file (relative to the config's folder)."""

    path: str = "crmseg-state.sqlite"
    url: str | None = None  # postgresql://user@host:5432/db — a server store shared by several hosts
    password_env: str = "CRMSEG_STATE_PASSWORD"  # the server store's password, from the environment
    lease: str = "10m"  # how long a run's lock lasts without renewal (renewed while the run lasts)

    @property
    def lease_s(self) -> float:
        """``lease`` in seconds."""
        return _seconds(self.lease)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^postgres(ql)?://", v):
            raise ValueError(
                f"url must start with postgresql:// (got {v.split(':', 1)[0]!r}); "
                "leave it out to use the SQLite file in path"
            )
        if v is not None and re.match(r"^postgres(ql)?://[^/@]*:[^/@]*@", v):
            raise ValueError("url must not hold a password; put it in the environment variable named by password_env")
        return v

    @field_validator("lease")
    @classmethod
    def _lease(cls, v: str) -> str:
        if parse_interval(v) is None:
            raise ValueError(f"lease {v!r} must look like 30s, 15m, 2h or 1d")
        return v


class LoggingConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = False


class DaemonConfig(_Strict):
    """``crmseg daemon``: metrics endpoint and shutdown."""

    metrics_port: int | None = Field(default=None, ge=0, le=65535)  # off unless set (or --metrics-port)
    metrics_host: str = "127.0.0.1"  # another address only when named here
    shutdown_timeout: str = "2m"  # how long SIGTERM waits for running syncs to finish their batch

    @property
    def shutdown_timeout_s(self) -> float:
        """``shutdown_timeout`` in seconds."""
        return _seconds(self.shutdown_timeout)

    @field_validator("shutdown_timeout")
    @classmethod
    def _timeout(cls, v: str) -> str:
        if parse_interval(v) is None:
            raise ValueError(f"shutdown_timeout {v!r} must look like 30s, 2m or 1h")
        return v


class Config(_Strict):
    state: StateConfig = StateConfig()
    logging: LoggingConfig = LoggingConfig()
    daemon: DaemonConfig = DaemonConfig()
    alerts: AlertsConfig | None = None  # [alerts]: a webhook for failed runs, guard trips, drift, rejected rules
    review: ReviewConfig = ReviewConfig()  # [review]: how `crmseg review` judges the segments
    syncs: dict[str, SyncConfig]
    path: str = ""
    base_dir: str = "."

    @model_validator(mode="after")
    def _has_syncs(self) -> Config:
        if not self.syncs:
            raise ValueError("at least one [syncs.NAME] table is required")
        return self

    @model_validator(mode="after")
    def _reviewed_syncs(self) -> Config:
        """A scheduled review names syncs that exist and read deals (a review reads their deals)."""
        if self.review.schedule is None:
            return self
        for name in self.review.syncs or ():
            if name not in self.syncs:
                raise ValueError(f"[review] syncs: no sync named {name!r}; allowed: {', '.join(self.syncs)}")
            if not self.syncs[name].deals:
                raise ValueError(f"[review] syncs: sync {name!r} reads no deals (set deals on it): nothing to review")
        if not self.reviewed_syncs():
            raise ValueError(
                "[review] schedule: no sync reads deals, so there is nothing to review "
                '(set deals = true on a CRM sync, deals = "deals.csv" on a csv/jsonl sync)'
            )
        return self

    def reviewed_syncs(self) -> list[str]:
        """The syncs ``[review] schedule`` reviews: ``[review] syncs``, else every sync reading deals."""
        if self.review.syncs is not None:
            return list(self.review.syncs)
        return [name for name, sync in self.syncs.items() if sync.deals]

    def sync(self, name: str | None) -> SyncConfig:
        """The named sync, or the only one when ``name`` is None."""
        if name is None:
            if len(self.syncs) == 1:
                return next(iter(self.syncs.values()))
            raise ConfigError(f"{self.path}: several syncs ({', '.join(self.syncs)}); choose one with --sync")
        if name not in self.syncs:
            raise ConfigError(f"{self.path}: no sync named {name!r}; allowed: {', '.join(self.syncs)}")
        return self.syncs[name]

    def resolve(self, rel: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(rel)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def changes_file(self, sync: SyncConfig) -> Path | None:
        """Where a file sync writes its import-ready changes (None: a CRM sync writes to the CRM)."""
        if not isinstance(sync, FileSync):
            return None
        return self.resolve(sync.changes_path or CHANGES_FILE.format(sync=sync.name))


def load_config(path: str | Path) -> Config:
    """Read and validate config.toml; sync tables get their ``name`` filled in."""
    p = Path(path)
    data = _read_toml(p)
    for name, sync in (data.get("syncs") or {}).items():
        if isinstance(sync, dict):
            sync.setdefault("name", name)
    data["path"] = str(p)
    data["base_dir"] = str(p.parent)
    return _validate(Config, data, p)


class _ReviewFile(_Strict):
    review: ReviewConfig = ReviewConfig()


def load_review_config(path: str | Path) -> ReviewConfig:
    """The ``[review]`` table of a TOML file (``crmseg review --review-config FILE``)."""
    p = Path(path)
    data = _read_toml(p)
    if "review" not in data:
        raise ConfigError(f"{p}: no [review] table (the file holds {', '.join(sorted(data)) or 'nothing'})")
    return _validate(_ReviewFile, data, p).review


def parse_interval(text: str) -> float | None:
    """'90s', '15m', '2h', '1d' -> seconds, or None when malformed."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not m:
        return None
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _seconds(text: str) -> float:
    """A duration the model's validator accepted, in seconds."""
    seconds = parse_interval(text)
    if seconds is None:  # only a model built without validation gets here
        raise ConfigError(f"duration {text!r} must look like 30s, 15m, 2h or 1d")
    return seconds


# ---------------------------------------------------------------- helpers
def _read_toml(p: Path) -> dict[str, Any]:
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None


def _validate(model: type[BaseModel], data: dict[str, Any], p: Path) -> Any:
    """``model`` from ``data``, or ConfigError: one line per problem, in the file's own key names."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines: list[str] = []
        listed: set[str] = set()
        for err in exc.errors():
            raw = [x for x in err["loc"] if not str(x).startswith("function-after")]
            keys = _user_loc(raw)
            loc = ".".join(str(x) for x in keys)
            msg = str(err["msg"]).removeprefix("Value error, ")
            ctx = err.get("ctx") or {}
            if err["type"] == "literal_error" and "expected" in ctx:
                msg = f"{msg} (allowed: {ctx['expected']})"
            bound = _BOUNDS.get(err["type"])
            if bound is not None:
                limit = next(iter(ctx.values()), "?")
                msg = f"must be {bound} {limit} (got {err.get('input')!r})"
            elif err["type"] in _KINDS:
                msg = f"must be {_KINDS[err['type']]} (got {err.get('input')!r})"
            if err["type"] == "union_tag_invalid":
                msg = "unknown connector (allowed: 'csv', 'jsonl', 'salesforce', 'hubspot', 'dynamics', 'zoho')"
            if err["type"] == "extra_forbidden":
                table = ".".join(str(x) for x in keys[:-1])
                msg = _unknown_key(str(keys[-1]), _allowed_keys(model, raw[:-1]), table in listed)
                if "(allowed:" in msg:
                    listed.add(table)
            lines.append(f"{p}: {loc}: {msg}")
        raise ConfigError("\n".join(lines)) from None


_BOUNDS = {
    "greater_than": "greater than",
    "greater_than_equal": "at least",
    "less_than": "less than",
    "less_than_equal": "at most",
}
_KINDS = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a quoted text",
}
_TAGS = {
    "csv": "FileSync",
    "jsonl": "FileSync",
    "salesforce": "SalesforceSync",
    "hubspot": "HubSpotSync",
    "dynamics": "DynamicsSync",
    "zoho": "ZohoSync",
}
_INTERNAL = {"Config": {"path", "base_dir"}, "Mapping": {"path"}}  # filled in by the loader


def _user_loc(loc: list[Any]) -> list[Any]:
    """The location as the user wrote it: without pydantic's connector tag (syncs.NAME.TAG)."""
    if len(loc) >= 3 and loc[0] == "syncs" and loc[2] in _TAGS:
        return loc[:2] + loc[3:]
    return loc


def _allowed_keys(model: type[BaseModel], loc: list[Any]) -> list[str]:
    """The keys the table at ``loc`` (pydantic's location) may hold."""
    from typing import get_args, get_origin

    cur: Any = model
    if len(loc) >= 3 and loc[0] == "syncs" and loc[2] in _TAGS:
        cur, loc = globals()[_TAGS[loc[2]]], loc[3:]
    for part in loc:
        cur = _optional_table(cur)
        if isinstance(cur, type) and issubclass(cur, BaseModel):
            field = cur.model_fields.get(str(part))
            cur = field.annotation if field is not None else None
        elif get_origin(cur) is dict:
            cur = get_args(cur)[1]
        else:
            return []
    cur = _optional_table(cur)
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        internal = _INTERNAL.get(cur.__name__, set()) | ({"name"} if issubclass(cur, _SyncBase) else set())
        return [k for k in cur.model_fields if k not in internal]
    return []


def _optional_table(annotation: Any) -> Any:
    """The model of an optional table (``AlertsConfig | None`` for ``[alerts]``, a mapping's
    ``[deals]``), else ``annotation``."""
    from typing import get_args

    args = get_args(annotation)
    models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
    return models[0] if len(models) == 1 and type(None) in args else annotation


def _unknown_key(key: str, allowed: list[str], listed: bool) -> str:
    """``unknown key — did you mean 'x'?``, else the allowed keys (once per table)."""
    import difflib

    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key — did you mean {close[0]!r}?"
    if listed or not allowed:
        return "unknown key"
    return f"unknown key (allowed: {', '.join(allowed)})"
