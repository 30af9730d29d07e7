"""One account's history in a sync's state: every recorded tag change, its pin, what is pending.

Read-only over the state store: the transition log (run, time, dimension, from -> to, rule),
the recorded tags, the local copy (for the pin, as the account was last read), the
per-record errors and the outbox (writes sent whose outcome is not recorded yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmseg.drift.measures import is_initial_load
from crmseg.normalize.normalizer import Normalizer
from crmseg.state.store import StateStore


def account_history(
    store: StateStore,
    sync: str,
    account: str,
    pin_field: str | None,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The ``history --json`` document of ``account`` in ``sync``; None when the state knows nothing of it.

    Keys: ``sync``, ``account``, ``name`` and ``domain`` (from ``names``, as the local copy holds
    them; None when unknown), ``in_population`` (in the local copy now), ``tags`` (dimension ->
    the value crmseg recorded last), ``changes`` (oldest first: ``run``, ``run_status``, ``at``,
    ``dimension``, ``from``, ``to``, ``rule``, ``initial_load`` — set by the account's first
    evaluation, out of no value), ``pin`` (``{"field", "pinned"}`` as last read;
    None without a pin field or a copy), ``errors`` (``error``, ``permanent``, ``attempts``,
    ``first_run``, ``last_run``, ``at``, ``targets``) and ``pending_writes`` (``run``, ``targets``)."""
    moves = store.transitions(sync, account=account)
    tags = store.recorded_tags(sync, [account]).get(account, {})
    copy = next(iter(store.iter_accounts(sync, [account])), None)
    error = store.record_errors(sync).get(account)
    pending = store.outbox(sync).get(account)
    if not moves and not tags and copy is None and error is None and pending is None:
        return None
    status = {r.id: r.status for r in store.runs(sync)} if moves else {}
    pin = None
    if pin_field and copy is not None:
        pin = {"field": pin_field, "pinned": Normalizer.pin_value(copy[1].get(pin_field))}
    return {
        "sync": sync,
        "account": account,
        "name": (names or {}).get("name"),
        "domain": (names or {}).get("domain"),
        "in_population": copy is not None,
        "tags": dict(sorted(tags.items())),
        "changes": [
            {
                "run": t.run,
                "run_status": status.get(t.run),
                "at": t.at,
                "dimension": t.dimension,
                "from": t.from_value,
                "to": t.to_value,
                "rule": t.rule,
                "initial_load": is_initial_load(t),
            }
            for t in moves
        ],
        "pin": pin,
        "errors": []
        if error is None
        else [
            {
                "error": error.error,
                "permanent": error.permanent,
                "attempts": error.attempts,
                "first_run": error.first_run,
                "last_run": error.last_run,
                "at": error.at,
                "targets": error.targets,
            }
        ],
        "pending_writes": []
        if pending is None
        else [{"run": pending.run, "targets": {d: t.value for d, t in pending.dims.items()}}],
    }
