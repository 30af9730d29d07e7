"""``SandboxServer``: a seeded sandbox CRM on 127.0.0.1, run in a background thread.

    with SandboxServer("salesforce", accounts=500, rules_dir="rules") as sb:
        sf = salesforce_client(sb.url)            # see crmseg.sandbox.clients
        ...
        sb.stats()["calls"]["by_endpoint"]
        sb.inject({"kind": "429", "endpoint": "query", "count": 2, "retry_after": 0})

``accounts`` is a number (deterministic synthetic accounts from the checkout's
``scripts/make_sample_accounts.py``), a CSV path of canonical accounts, or a list of
canonical account dicts; ``id_map`` (also ``GET /__sandbox/ids``) links their ``id`` column
to the CRM ids. ``mapping`` defaults to the shipped ``connectors/<crm>.toml``.
``create_tags=False`` starts without the mapping's tag and pin fields (for testing a
connector that provisions them). Keyword ``overrides`` set ``SandboxOptions`` fields, e.g.
``search_cap=50`` (HubSpot's 10,000-result search cap, made small for tests).

``deals=N`` seeds N deals for the seeded accounts over the six quarters before
``deals_as_of`` (default 2026-11-01) with the planted effects of ``crmseg.sandbox.deals``
(``deal_effects=False``: none); ``multi_currency=True`` makes a multi-currency org/portal.
Salesforce serves them as ``Opportunity``, HubSpot as deals (see the apps' docstrings).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from crmseg.config import Mapping
from crmseg.sandbox.base import BaseApp, SandboxHTTPServer, SandboxOptions, set_options
from crmseg.sandbox.deal_records import seed_deal_records
from crmseg.sandbox.deals import DEALS_AS_OF
from crmseg.sandbox.defaults import resolve_mapping
from crmseg.sandbox.dynamics import DynamicsApp
from crmseg.sandbox.dynamics_schema import build_dynamics_schema, seed_records
from crmseg.sandbox.hubspot import HubSpotApp
from crmseg.sandbox.salesforce import SalesforceApp
from crmseg.sandbox.schema import build_schema, learn_options, load_dimensions, tag_fields
from crmseg.sandbox.seed import build_records, read_seed_csv
from crmseg.sandbox.store import Record, Store
from crmseg.sandbox.synthetic import synthetic_accounts
from crmseg.sandbox.zoho import ZohoApp
from crmseg.sandbox.zoho_schema import build_zoho_schema, learn_stored
from crmseg.sandbox.zoho_schema import seed_records as zoho_seed_records

CRMS = ("salesforce", "hubspot", "dynamics", "zoho")


class SandboxServer:
    """A sandbox CRM (``crm`` = "salesforce", "hubspot", "dynamics" or "zoho") serving HTTP on 127.0.0.1."""

    def __init__(
        self,
        crm: str = "salesforce",
        *,
        port: int = 0,
        accounts: int | str | Path | Sequence[dict[str, Any]] | None = None,
        seed: int = 42,
        mapping: Mapping | str | Path | None = None,
        rules_dir: str | Path | None = None,
        db_path: str = ":memory:",
        create_tags: bool = True,
        options: SandboxOptions | None = None,
        deals: int | None = None,
        deal_effects: bool = True,
        deals_as_of: date = DEALS_AS_OF,
        **overrides: Any,
    ) -> None:
        if crm not in CRMS:
            raise ValueError(f"crm must be one of {CRMS}, not {crm!r}")
        self.crm = crm
        self.mapping = resolve_mapping(crm, mapping)
        self.rules_dir = Path(rules_dir) if rules_dir is not None else None
        self.options = options or SandboxOptions()
        set_options(self.options, overrides)
        dims = load_dimensions(self.rules_dir)
        self.tag_fields = tag_fields(self.mapping, dims)
        if crm == "dynamics":
            schema = build_dynamics_schema(self.mapping, dims, create_tags)
        elif crm == "zoho":
            schema = build_zoho_schema(self.mapping, dims, create_tags)
        else:
            schema = build_schema(crm, self.mapping, dims, create_tags)
        self.store = Store(db_path)
        self.id_map: dict[str, str] = {}
        self.deal_store: Store | None = None
        if deals is not None and accounts is None:
            self.store.close()
            raise ValueError(
                "deals are seeded with the accounts they belong to: seed accounts too (--accounts N or --seed FILE)"
            )
        if accounts is not None:
            rows = _rows(accounts, seed)
            if crm == "dynamics":
                records, self.id_map = seed_records(rows, self.mapping, schema, self.tag_fields)
            elif crm == "zoho":
                records, self.id_map = zoho_seed_records(rows, self.mapping, schema, self.tag_fields)
            else:
                records, self.id_map = build_records(crm, rows, self.mapping, schema, self.tag_fields)
            self.store.clear()
            self.store.insert_many(records)
            if deals is not None:
                self.deal_store = Store(db_path, table="deals")
                self.deal_store.clear()
                self.deal_store.insert_many(
                    seed_deal_records(
                        crm,
                        [(rec.id, row) for rec, row in zip(records, rows, strict=True)],
                        deals,
                        self.mapping,
                        seed=seed,
                        as_of=deals_as_of,
                        effects=deal_effects,
                        multi_currency=self.options.multi_currency,
                    )
                )
        else:
            for rec in self.store.scan() if crm != "dynamics" else ():  # Dynamics stores option integers
                (learn_stored if crm == "zoho" else learn_options)(schema, rec.data)
            if db_path != ":memory:":  # deals a previous start left in the file
                kept = Store(db_path, table="deals")
                if kept.count():
                    self.deal_store = kept
                else:
                    kept.close()
        app_cls = {"salesforce": SalesforceApp, "hubspot": HubSpotApp, "dynamics": DynamicsApp, "zoho": ZohoApp}[crm]
        try:
            self.app: BaseApp = app_cls(self.store, schema, self.mapping, self.tag_fields, self.options)
        except ValueError:  # an option the app refuses (org_id, portal_id)
            self.store.close()
            if self.deal_store is not None:
                self.deal_store.close()
            raise
        self.app.id_map = self.id_map
        if self.deal_store is not None:
            self.app.attach_deals(self.deal_store)
        self._httpd = SandboxHTTPServer(("127.0.0.1", port), self.app)
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app.base_url = self.url
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> SandboxServer:
        """Serve in a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"crmseg-sandbox-{self.crm}-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop`` is called from elsewhere."""
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving, release held (``timeout``) responses and close the store."""
        self.app.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.store.close()
        if self.deal_store is not None:
            self.deal_store.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ test API
    @property
    def schema(self) -> dict[str, Any]:
        return self.app.schema

    def stats(self) -> dict[str, Any]:
        """What ``GET /__sandbox/stats`` answers."""
        return self.app.stats_snapshot()

    def reset_stats(self) -> None:
        """Zero counters, API usage and rate windows."""
        self.app.stats.reset()
        self.app.faults.reset_counts()
        self.app.reset_limits()

    def inject(self, *faults: dict[str, Any], seed: int | None = None) -> None:
        """Add faults (dicts as in ``crmseg.sandbox.faults``)."""
        plan: dict[str, Any] = {"faults": list(faults)}
        if seed is not None:
            plan["seed"] = seed
        self.app.faults.load(plan)

    def clear_faults(self) -> None:
        self.app.faults.clear()

    def configure(self, **changes: Any) -> None:
        """Change tunable options live, as ``POST /__sandbox/config`` does (e.g. ``search_cap=50``)."""
        with self.app.lock:
            set_options(self.options, changes, live=True)
            self.app.options_changed()

    def record(self, rid: str) -> dict[str, Any] | None:
        """Stored field values of one record (None when absent)."""
        rec = self.store.get(rid)
        return None if rec is None else dict(rec.data)

    def modified_ms(self, rid: str) -> int | None:
        rec = self.store.get(rid)
        return None if rec is None else rec.modified_ms

    def ids(self) -> list[str]:
        """All record ids in creation order."""
        return self.store.select_ids()

    def edit(self, updates: dict[str, dict[str, Any]] | None = None, touch: Sequence[str] = ()) -> None:
        """Change records out of band (as a CRM user would), bumping their modification time."""
        changes = [(rid, dict(fields)) for rid, fields in (updates or {}).items()] + [(r, {}) for r in touch]
        with self.app.lock:
            self.store.update_many(changes, self.app.write_ms())

    # ------------------------------------------------------------ deals
    def _deals(self) -> Store:
        if self.deal_store is None:
            raise RuntimeError("this sandbox has no deals (start it with deals=N)")
        return self.deal_store

    def deal_ids(self, deleted: bool | None = None) -> list[str]:
        """Deal ids in id order (``deleted``: only those in / out of the recycle bin or archive)."""
        store = self._deals()
        if deleted is None:
            return store.select_ids()
        return store.select_ids("deleted = ?", [int(deleted)])

    def deal(self, rid: str) -> Record | None:
        """One stored deal (fields as the CRM stores them, timestamps, deleted flag), or None."""
        return self._deals().get(rid)

    def edit_deals(
        self,
        updates: dict[str, dict[str, Any]] | None = None,
        touch: Sequence[str] = (),
        delete: Sequence[str] = (),
        restore: Sequence[str] = (),
    ) -> None:
        """Change deals out of band (as a CRM user would), bumping their modification time;
        ``delete`` moves deals to the recycle bin (Salesforce) / archive (HubSpot), ``restore`` back."""
        store = self._deals()
        changes = [(rid, dict(fields)) for rid, fields in (updates or {}).items()] + [(r, {}) for r in touch]
        with self.app.lock:
            now = self.app.write_ms()
            store.update_many(changes, now)
            store.set_deleted(list(delete), True, now)
            store.set_deleted(list(restore), False, now)

    @property
    def credentials(self) -> Any:
        return self.options.credentials

    def env(self) -> dict[str, str]:
        """Environment variables a crmseg config for this sandbox reads credentials from."""
        c = self.options.credentials
        if self.crm == "hubspot":
            return {"HUBSPOT_ACCESS_TOKEN": c.hubspot_token}
        if self.crm == "dynamics":
            return {"DYNAMICS_CLIENT_ID": c.dynamics_client_id, "DYNAMICS_CLIENT_SECRET": c.dynamics_client_secret}
        if self.crm == "zoho":
            return {
                "ZOHO_CLIENT_ID": c.zoho_client_id,
                "ZOHO_CLIENT_SECRET": c.zoho_client_secret,
                "ZOHO_REFRESH_TOKEN": c.zoho_refresh_token,
            }
        return {
            "SF_USERNAME": c.username,
            "SF_PASSWORD": c.password,
            "SF_SECURITY_TOKEN": c.security_token,
            "SF_SESSION_ID": c.session_id,
            "SF_CONSUMER_KEY": c.consumer_key,
            "SF_CONSUMER_SECRET": c.consumer_secret,
        }


def _rows(accounts: int | str | Path | Sequence[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    if isinstance(accounts, bool):
        raise TypeError("accounts must be a number, a CSV path or a list of dicts")
    if isinstance(accounts, int):
        return synthetic_accounts(accounts, seed)
    if isinstance(accounts, (str, Path)):
        return list(read_seed_csv(accounts))
    return [dict(r) for r in accounts]
