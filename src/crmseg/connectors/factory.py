"""Open the connector a sync config names (imports each backend only when used)."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Mapping as TMapping
from pathlib import Path
from typing import Any

from crmseg.config import DynamicsSync, FileSync, HubSpotSync, Mapping, SalesforceSync, ZohoSync
from crmseg.connectors.base import Connector
from crmseg.errors import ConfigError


def open_connector(
    sync_cfg: Any,
    mapping: Mapping,
    env: TMapping[str, str] = os.environ,
    *,
    base_dir: str | Path | None = None,
    stop: threading.Event | None = None,
    **options: Any,
) -> Connector:
    """A connector for ``sync_cfg`` (csv/jsonl file, salesforce, hubspot, dynamics, zoho).

    ``options`` go to the connector's constructor (e.g. ``policy=``, ``timeout=``) for the
    CRM connectors; file connectors take none. Credentials come only from ``env``. A
    relative file path is taken relative to ``base_dir`` (the config's folder) when given.
    ``stop``: the run's stop event; a CRM connector's waits (retry back-off, rate windows)
    end at once when it is set (:meth:`~crmseg.connectors.retry.RetryPolicy.pause`).
    """
    if stop is not None and not isinstance(sync_cfg, FileSync):
        from crmseg.connectors.retry import RetryPolicy

        options["policy"] = dataclasses.replace(options.get("policy") or RetryPolicy(), stop=stop)
    if isinstance(sync_cfg, FileSync):
        from crmseg.connectors.files import FileConnector

        path = Path(sync_cfg.path)
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        deals = None
        if sync_cfg.deals:
            from crmseg.connectors.deal_files import DealFile, FileDeals

            deals_path = Path(sync_cfg.deals)
            if base_dir is not None and not deals_path.is_absolute():
                deals_path = Path(base_dir) / deals_path
            deals = FileDeals(
                DealFile(
                    deals_path,
                    mapping=mapping.deals,
                    encoding=sync_cfg.encoding,
                    on_bad_row="skip" if sync_cfg.skip_bad_rows else "raise",
                )
            )
        return FileConnector(
            path,
            sync_cfg.connector,
            mapping=mapping,
            delimiter=sync_cfg.delimiter,
            encoding=sync_cfg.encoding,
            on_bad_row="skip" if sync_cfg.skip_bad_rows else "raise",
            deals=deals,
        )
    if isinstance(sync_cfg, SalesforceSync):
        from crmseg.connectors.salesforce import SalesforceConnector

        options.setdefault("timeout", sync_cfg.timeout)
        return SalesforceConnector(sync_cfg, mapping, env, **options)
    if isinstance(sync_cfg, HubSpotSync):
        from crmseg.connectors.hubspot import HubSpotConnector

        options.setdefault("timeout", sync_cfg.timeout)
        return HubSpotConnector(sync_cfg, mapping, env, **options)
    if isinstance(sync_cfg, DynamicsSync):
        from crmseg.connectors.dynamics import DynamicsConnector

        options.setdefault("timeout", sync_cfg.timeout)
        return DynamicsConnector(sync_cfg, mapping, env, **options)
    if isinstance(sync_cfg, ZohoSync):
        from crmseg.connectors.zoho import ZohoConnector

        options.setdefault("timeout", sync_cfg.timeout)
        return ZohoConnector(sync_cfg, mapping, env, **options)
    kind = getattr(sync_cfg, "connector", type(sync_cfg).__name__)
    raise ConfigError(
        f"unknown connector {kind!r} (allowed: 'csv', 'jsonl', 'salesforce', 'hubspot', 'dynamics', 'zoho')"
    )
