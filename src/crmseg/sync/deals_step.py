"""A sync's deal step: read the deals after the accounts, in the same run, lease and API budget.

A sync with ``deals = true`` (a CRM sync) or ``deals = "deals.csv"`` (a csv/jsonl sync) reads its
deals through the connector's :class:`~crmseg.connectors.base.DealReads` capability once the
accounts are recorded, converts them with :class:`~crmseg.deals.DealNormalizer` (the mapping's
``[deals]`` part; a file sync without one uses the canonical column names) and keeps them in the
state, one row per deal updated in place:

- **Mode**: a full read when the run reads its accounts in full or the deals have no watermark
  yet; else the deals modified since the deals' own watermark. After a complete full read the
  deals it did not return leave the state (deleted in the CRM).
- **Counted, never dropped silently**: a record that cannot be a deal (no created time, no
  status) is a *bad deal* — counted and named in the log, kept out of the state; a deal with no
  account or with an account the sync never read is kept and counted.
- **Watermark**: the run's start on the CRM's clock (the one the accounts' read starts from), so
  it never passes the run's start; saved only after every deal read is recorded. A run that
  stops or fails in the step leaves it where it was, and the next run reads the same deals
  again (upserts: the state ends as after one uninterrupted run).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmseg.audit.plan import Plan
from crmseg.config import DealsMapping, FileSync, SyncConfig, canonical_deals_mapping
from crmseg.connectors.base import DealReads
from crmseg.dates import parse_iso
from crmseg.deals import BadDeal, Deal, DealNormalizer
from crmseg.errors import ConfigError
from crmseg.state.store import StateStore, SyncState, iso
from crmseg.sync.budget import Budget

log = logging.getLogger(__name__)
CHUNK = 1000
#: Bad deals named in the run's outcome (all of them are logged).
SHOWN = 20


@dataclass
class DealsRead:
    """What a run's deal step read and recorded."""

    mode: str  # "full" or "incremental"
    read: int = 0  # deals recorded (bad ones not included)
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("open", "won", "lost"), 0))
    bad: int = 0
    no_account: int = 0
    unknown_account: int = 0
    removed: int = 0  # deals a full read no longer returned, deleted from the state
    watermark_before: str | None = None
    watermark_after: str | None = None
    #: The first bad deals, as ``id: field: problem``.
    problems: list[str] = field(default_factory=list)
    #: Per mapped field: values missing and invalid (kept deals; the field left empty).
    quality: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "read": self.read,
            **self.by_status,
            "bad": self.bad,
            "no_account": self.no_account,
            "unknown_account": self.unknown_account,
            "removed": self.removed,
            "watermark_before": self.watermark_before,
            "watermark_after": self.watermark_after,
        }


def deal_step(sync_cfg: SyncConfig, plan: Plan) -> DealStep | None:
    """The sync's deal step; None when the sync reads no deals. ConfigError (nothing read yet) when
    its connector cannot read deals or a CRM sync's mapping has no ``[deals]`` part."""
    if not sync_cfg.deals:
        return None
    reads = plan.connector.capabilities.deals
    if reads is None:
        raise ConfigError(
            f"syncs.{sync_cfg.name}.deals: the {sync_cfg.connector!r} connector of sync {sync_cfg.name!r} "
            "cannot read deals; remove the key or use a connector that reads them"
        )
    mapping = plan.mapping.deals
    if mapping is None:
        if not isinstance(sync_cfg, FileSync):
            raise ConfigError(
                f"syncs.{sync_cfg.name}.deals = true, but the mapping {plan.mapping.path or '(built in)'} has no "
                "[deals] part saying where deals are read from (the shipped mappings have one)"
            )
        mapping = canonical_deals_mapping()
    return DealStep(sync_cfg.name, reads, mapping)


class DealStep:
    """Reads one sync's deals into its state (see the module's docstring)."""

    def __init__(self, sync: str, reads: DealReads, mapping: DealsMapping) -> None:
        self.sync, self.reads, self.mapping = sync, reads, mapping

    def run(
        self,
        store: StateStore,
        run: int,
        state: SyncState,
        *,
        full: bool,
        mark: datetime | None,
        budget: Budget,
        check_stop: Callable[[], None],
    ) -> DealsRead:
        """Read and record the deals; ``mark``: the run's start on the CRM's clock (None: a source
        without a clock, whose reads are all full), the next incremental read's start."""
        wm = state.deals_watermark
        since = None if full or not wm else parse_iso(wm)
        out = DealsRead("full" if since is None else "incremental", watermark_before=None if since is None else wm)
        norm = DealNormalizer(self.mapping, multi_currency=self.reads.multi_currency)
        batch: list[Deal] = []
        for raw in self.reads.read_deals(norm.read_fields(), since=since):
            try:
                batch.append(norm.deal(raw))
            except BadDeal as exc:
                out.bad += 1
                text = f"{raw.id}: {exc.key!r}: {exc.problem}"
                log.warning("sync %s: bad deal %s (not recorded)", self.sync, text)
                if len(out.problems) < SHOWN:
                    out.problems.append(text)
                continue
            if len(batch) >= CHUNK:
                self._record(store, run, batch, out)
                batch = []
                check_stop()
                budget.check(1, "reading the next page of deals")
        self._record(store, run, batch, out)
        if since is None:
            out.removed = store.drop_unseen_deals(self.sync, run)
            if out.removed:
                log.info("sync %s: %d deal(s) no longer in the source removed", self.sync, out.removed)
        out.quality = norm.quality
        out.watermark_after = iso(mark) if mark is not None else None
        store.save_deals_watermark(self.sync, out.watermark_after)
        if out.no_account or out.unknown_account:
            log.warning(
                "sync %s: %d deal(s) with no account and %d with an account this sync never read (kept, counted)",
                self.sync,
                out.no_account,
                out.unknown_account,
            )
        return out

    def _record(self, store: StateStore, run: int, deals: list[Deal], out: DealsRead) -> None:
        if not deals:
            return
        store.upsert_deals(self.sync, run, deals)
        out.read += len(deals)
        for status, n in Counter(d.status for d in deals).items():
            out.by_status[status] += n
        out.no_account += sum(1 for d in deals if not d.account_id)
        unknown = store.unknown_accounts(self.sync, [d.account_id for d in deals if d.account_id])
        out.unknown_account += sum(1 for d in deals if d.account_id in unknown)
