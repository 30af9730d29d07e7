"""Account names (and domains) beside their ids in reports read from state (drift, history).

The names come from the sync's local copy: it holds every field the mapping reads, the
canonical ``name`` and ``domain`` among them when the mapping (or, for a file, a column)
has them, normalized the way rules see them. Nothing else is stored for this. An account no
longer in the population, or a mapping without those fields, shows its id alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crmseg.config import Config, FileSync, Mapping, load_mapping
from crmseg.model import RawRecord
from crmseg.normalize.normalizer import Normalizer
from crmseg.state.store import StateStore

#: The canonical fields shown beside an id, in this order.
NAME_FIELDS = ("name", "domain")


def sync_mapping(cfg: Config, sync_cfg: Any) -> Mapping | None:
    """The mapping a sync reads with (a file sync's default one when it names none); None when unknown."""
    if sync_cfg.mapping:
        return load_mapping(cfg.resolve(sync_cfg.mapping))
    if isinstance(sync_cfg, FileSync):
        from crmseg.audit.plan import default_mapping

        return load_mapping(default_mapping(cfg.resolve(sync_cfg.rules)))
    return None


def account_names(
    store: StateStore, sync: str, ids: Iterable[str], mapping: Mapping, passthrough: bool = False
) -> dict[str, dict[str, str]]:
    """``id -> {"name": …, "domain": …}`` (keys present only when known) for the accounts of
    ``ids`` in the sync's local copy."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    norm = Normalizer(mapping, passthrough=passthrough)
    out: dict[str, dict[str, str]] = {}
    for rid, data in store.iter_accounts(sync, wanted):
        account = norm.account(RawRecord(rid, data))
        known = {k: str(account[k]) for k in NAME_FIELDS if account.get(k) not in (None, "")}
        if known:
            out[rid] = known
    return out


def names_of(cfg: Config, sync_cfg: Any, store: StateStore, ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """``account_names`` with the sync's own mapping ({} when it has none)."""
    mapping = sync_mapping(cfg, sync_cfg)
    if mapping is None:
        return {}
    return account_names(store, sync_cfg.name, ids, mapping, passthrough=isinstance(sync_cfg, FileSync))
