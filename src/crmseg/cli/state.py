"""``crmseg state``: create or upgrade the state schema; copy SQLite history into PostgreSQL;
forget what a sync knows of its CRM (``reset``)."""

from __future__ import annotations

import click

from crmseg.config import load_config
from crmseg.errors import ConfigError

CONFIG = click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True),
    required=True,
    help="config.toml whose [state] names the store.",
)


@click.group()
def state() -> None:
    """Manage the sync state store (SQLite file or PostgreSQL server)."""


@state.command("migrate")
@CONFIG
def state_migrate(config: str) -> None:
    """Create the state schema or apply the migrations it lacks; print the version."""
    from crmseg.state import state_label
    from crmseg.state.sql import SqlStore

    cfg = load_config(config)
    store: SqlStore
    if cfg.state.url:
        from crmseg.state.postgres import PostgresStore

        store = PostgresStore.from_config(cfg.state, migrate=False)
    else:
        from crmseg.state.sqlite import SqliteStore

        store = SqliteStore(cfg.resolve(cfg.state.path), migrate=False)
    try:
        before = store.schema_version()
        after = store.migrate()
    finally:
        store.close()
    change = "up to date" if before == after else ("created" if before == 0 else f"upgraded from {before}")
    click.echo(f"{state_label(cfg)}: state schema version {after} ({change})")


@state.command("copy")
@click.option(
    "--from",
    "source",
    type=click.Path(dir_okay=False, exists=True),
    required=True,
    help="The SQLite state file to copy (never modified).",
)
@CONFIG
@click.option("--force", is_flag=True, help="Replace the history a non-empty target holds (its locks stay).")
def state_copy(source: str, config: str, force: bool) -> None:
    """Copy a SQLite state file's history (runs, transitions, tags, …) into the PostgreSQL store."""
    from crmseg.state.copy import copy_sqlite, describe
    from crmseg.state.postgres import PostgresStore

    cfg = load_config(config)
    if not cfg.state.url:
        raise ConfigError(
            f"{config}: [state] url is not set; the copy needs a PostgreSQL target "
            '(url = "postgresql://user@host:5432/db")'
        )
    store = PostgresStore.from_config(cfg.state)
    try:
        counts = copy_sqlite(source, store, force=force)
    finally:
        store.close()
    click.echo(f"copied {source} into {store.where}: {describe(counts)}")


@state.command("reset")
@CONFIG
@click.option("--sync", "sync_name", help="The sync to reset (needed when the config has several).")
def state_reset(config: str, sync_name: str | None) -> None:
    """Forget the sync's local copy, recorded tags, pending writes, record errors, watermark and
    CRM identity, keeping its run history (runs, transitions, drift snapshots).

    For a sync pointed at another CRM on purpose: its next run reads every account of the new
    CRM and binds the state to it. Exit 3 while a run of the sync holds its lease."""
    from crmseg.state import open_state, state_label
    from crmseg.sync.identity import stored_identity
    from crmseg.sync.lease import hold_lease

    cfg = load_config(config)
    name = cfg.sync(sync_name).name
    store = open_state(cfg, create=False)
    if store is None:
        click.echo(f"{state_label(cfg)}: no state file yet; nothing to reset")
        return
    try:
        had = stored_identity(store.sync_state(name))
        with hold_lease(store, name, cfg.state.lease_s):
            counts = store.reset_sync(name)
    finally:
        store.close()
    forgot = ", ".join(f"{n:,} {table}" for table, n in counts.items() if table != "sync_state")
    bound = f"; it was bound to {had.describe()}" if had else ""
    click.echo(
        f"sync {name!r} reset in {state_label(cfg)}: forgot {forgot}, its watermark and CRM identity{bound}; "
        "run history kept. The next run reads every account."
    )
