"""``crmseg history``: every recorded tag change of one account, its pin and its pending writes."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console

from crmseg.config import FileSync, load_config
from crmseg.labels import account_text


@click.command()
@click.option("--config", type=click.Path(dir_okay=False, exists=True), required=True, help="config.toml.")
@click.option("--sync", "sync_name", help="Which sync of the config (needed when it has several).")
@click.option("--account", required=True, help="The account's CRM id (the file's id column for csv/jsonl syncs).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(config: str, sync_name: str | None, account: str, as_json: bool) -> None:
    """Every recorded tag change of one account (run, time, dimension, from → to, rule), its pin and errors.

    Exit 0 the account has recorded state, 1 the sync's state knows nothing of it."""
    from crmseg.state import open_state, state_label
    from crmseg.sync.history import account_history
    from crmseg.sync.names import account_names, sync_mapping

    cfg = load_config(config)
    sync_cfg = cfg.sync(sync_name)
    mapping = sync_mapping(cfg, sync_cfg)
    pin_field = mapping.pin_field if mapping is not None else None
    store = open_state(cfg, create=False)
    try:
        data = None
        if store is not None:
            names = (
                account_names(store, sync_cfg.name, [account], mapping, passthrough=isinstance(sync_cfg, FileSync))
                if mapping is not None
                else {}
            )
            data = account_history(store, sync_cfg.name, account, pin_field, names.get(account))
    finally:
        if store is not None:
            store.close()
    if data is None:
        click.echo(
            f"account {account!r}: nothing recorded in sync '{sync_cfg.name}' ({state_label(cfg)}): "
            "no tag change, copy, error or pending write",
            err=True,
        )
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    _print(data, Console(soft_wrap=True))


def _print(data: dict[str, Any], console: Console) -> None:
    """The text view of ``history``'s document."""

    def out(text: str) -> None:
        console.print(text, highlight=False, markup=False)

    where = "in the population" if data["in_population"] else "no longer in the population (history kept)"
    out(f"account {account_text(data['account'], data)} in sync '{data['sync']}': {where}")
    pin = data["pin"]
    if pin is not None:
        out(f"  pinned: {'yes — evaluated, never written' if pin['pinned'] else 'no'} ({pin['field']}, as last read)")
    if data["tags"]:
        out("  tags now: " + ", ".join(f"{d} = {_text(v)}" for d, v in data["tags"].items()))
    changes = data["changes"]
    out(f"changes ({len(changes)}):" if changes else "changes: none recorded")
    for c in changes:
        status = f" ({c['run_status']})" if c["run_status"] else ""
        initial = "  (initial load)" if c.get("initial_load") else ""
        out(
            f"  run {c['run']}{status}  {c['at']}  {c['dimension']}: {_text(c['from'])} → {_text(c['to'])}"
            f"  [{c['rule'] or '?'}]{initial}"
        )
    for e in data["errors"]:
        kind = "blocked (permanent)" if e["permanent"] else f"retried on the next run, attempt {e['attempts']}"
        out(f"write error, {kind}, last in run {e['last_run']}: {e['error']}")
        out("  tried to set: " + ", ".join(f"{d} = {_text(v)}" for d, v in e["targets"].items()))
    for p in data["pending_writes"]:
        out(
            f"pending write of run {p['run']} (outcome not recorded; the next run checks the CRM): "
            + ", ".join(f"{d} = {_text(v)}" for d, v in p["targets"].items())
        )


def _text(value: str | None) -> str:
    return "(none)" if value is None else value
