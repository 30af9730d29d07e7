"""Typed config (config.toml) and mapping files (connectors/*.toml), validated up front.

Every error names the file and the key, and lists the allowed values. The models live in
``mapping`` (mapping files), ``syncs`` (the ``[syncs.NAME]`` tables), ``review``, ``alerts`` and
``vocabulary``; ``loading`` reads and validates TOML; this module holds the whole config and
re-exports what callers use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from crmseg.config.alerts import AlertsConfig
from crmseg.config.loading import StrictModel, interval_seconds, parse_interval, read_toml, validate_toml
from crmseg.config.mapping import (
    DEAL_FIELDS,
    DEAL_REQUIRED,
    FIELD_TYPES,
    DealFieldMap,
    DealsMapping,
    DealStatusMap,
    FieldMap,
    FieldType,
    Mapping,
    canonical_deals_mapping,
    load_mapping,
)
from crmseg.config.review import ReviewConfig
from crmseg.config.syncs import (
    CHANGES_FILE,
    DEFAULT_RESERVE,
    DynamicsSync,
    FileSync,
    HubSpotSync,
    SalesforceSync,
    SyncConfig,
    ZohoSync,
    ZohoTrigger,
    check_endpoint,
    parse_max_changes,
    parse_reserve,
)
from crmseg.errors import ConfigError


class StateConfig(StrictModel):
    """Where sync state lives: a SQLite file (relative to the config's folder)."""

    path: str = "crmseg-state.sqlite"
    url: str | None = None  # postgresql://user@host:5432/db — a server store shared by several hosts
    password_env: str = "CRMSEG_STATE_PASSWORD"  # the server store's password, from the environment
    lease: str = "10m"  # how long a run's lock lasts without renewal (renewed while the run lasts)

    @property
    def lease_s(self) -> float:
        """``lease`` in seconds."""
        return interval_seconds(self.lease)

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


class LoggingConfig(StrictModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = False


class DaemonConfig(StrictModel):
    """``crmseg daemon``: metrics endpoint and shutdown."""

    metrics_port: int | None = Field(default=None, ge=0, le=65535)  # off unless set (or --metrics-port)
    metrics_host: str = "127.0.0.1"  # another address only when named here
    shutdown_timeout: str = "2m"  # how long SIGTERM waits for running syncs to finish their batch

    @property
    def shutdown_timeout_s(self) -> float:
        """``shutdown_timeout`` in seconds."""
        return interval_seconds(self.shutdown_timeout)

    @field_validator("shutdown_timeout")
    @classmethod
    def _timeout(cls, v: str) -> str:
        if parse_interval(v) is None:
            raise ValueError(f"shutdown_timeout {v!r} must look like 30s, 2m or 1h")
        return v


class Config(StrictModel):
    loader_keys: ClassVar[frozenset[str]] = frozenset({"path", "base_dir"})
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
    data = read_toml(p)
    for name, sync in (data.get("syncs") or {}).items():
        if isinstance(sync, dict):
            sync.setdefault("name", name)
    data["path"] = str(p)
    data["base_dir"] = str(p.parent)
    return validate_toml(Config, data, p)


class _ReviewFile(StrictModel):
    review: ReviewConfig = ReviewConfig()


def load_review_config(path: str | Path) -> ReviewConfig:
    """The ``[review]`` table of a TOML file (``crmseg review --review-config FILE``)."""
    p = Path(path)
    data = read_toml(p)
    if "review" not in data:
        raise ConfigError(f"{p}: no [review] table (the file holds {', '.join(sorted(data)) or 'nothing'})")
    return validate_toml(_ReviewFile, data, p).review


__all__ = [
    "CHANGES_FILE",
    "DEAL_FIELDS",
    "DEAL_REQUIRED",
    "DEFAULT_RESERVE",
    "FIELD_TYPES",
    "AlertsConfig",
    "Config",
    "DaemonConfig",
    "DealFieldMap",
    "DealStatusMap",
    "DealsMapping",
    "DynamicsSync",
    "FieldMap",
    "FieldType",
    "FileSync",
    "HubSpotSync",
    "LoggingConfig",
    "Mapping",
    "ReviewConfig",
    "SalesforceSync",
    "StateConfig",
    "StrictModel",
    "SyncConfig",
    "ZohoSync",
    "ZohoTrigger",
    "canonical_deals_mapping",
    "check_endpoint",
    "load_config",
    "load_mapping",
    "load_review_config",
    "parse_interval",
    "parse_max_changes",
    "parse_reserve",
]
