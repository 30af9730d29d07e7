"""A sync's state belongs to one CRM: the first run records the CRM's identity, every later
run checks it before reading anything.

Pointing a config at another CRM — a re-created sandbox on the same port, another HubSpot
portal, a Salesforce sandbox refreshed from production (same record ids) — would otherwise
re-evaluate the local copy of the old CRM's accounts and write those tags onto the new CRM's
records. A mismatch stops the run (exit 2) before any account is read or written; the way
out is ``crmseg state reset --sync NAME`` (or another state path).
"""

from __future__ import annotations

import logging

from crmseg.connectors.base import Capabilities, CrmIdentity
from crmseg.errors import ConfigError
from crmseg.state.store import StateStore, SyncState

log = logging.getLogger(__name__)


class CrmMismatch(ConfigError):
    """The sync's state belongs to another CRM than the one the config now reaches (exit 2)."""


def stored_identity(state: SyncState) -> CrmIdentity | None:
    """The identity a sync's state records, or None before its first run records one."""
    if not state.identity:
        return None
    kind, _, ident = state.identity.partition(":")
    return CrmIdentity(kind, ident, state.identity_where or "")


def bind(store: StateStore, sync: str, state: SyncState, caps: Capabilities, has_history: bool) -> str | None:
    """Check the connector's CRM against the one the state records (record it when none is).

    Raises :class:`CrmMismatch` naming both and the way out. Returns a note for the run's
    log when an existing state adopts the CRM (a state from before identities were kept);
    None otherwise. A connector that cannot name its CRM is not checked."""
    if caps.identity is None:
        return None
    now = caps.identity.crm_identity()
    had = stored_identity(state)
    if had is not None:
        if had.key != now.key:
            raise CrmMismatch(
                f"sync {sync!r}: its state belongs to {had.describe()}, but the config now reaches "
                f"{now.describe()}; nothing was read or written. If the CRM was replaced on purpose, "
                f"forget the old one's local copy with `crmseg state reset --sync {sync}` (the run "
                "history stays) or give the sync another state path"
            )
        if now.where and now.where != had.where:
            store.bind_identity(sync, now.key, now.where)  # same CRM at a new address: keep the latest
        return None
    store.bind_identity(sync, now.key, now.where)
    if has_history:
        note = f"sync {sync!r}: its state had no CRM identity (an older state); it now belongs to {now.describe()}"
        log.warning("%s", note)
        return note
    log.info("sync %s: state bound to %s", sync, now.describe())
    return None
