"""Sync state: runs, watermarks, the local copy of accounts, recorded tags, the
transition log, count snapshots, per-record errors, the write outbox and the per-sync
lease — behind one small interface (:class:`~crmseg.state.store.StateStore`).

``open_state`` picks the implementation from the config's ``[state]`` table: a SQLite file
(``path``, the default) or a PostgreSQL server (``url``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from crmseg.state.store import StateStore

if TYPE_CHECKING:
    from crmseg.config import Config

__all__ = ["StateStore", "open_state", "open_store", "state_label"]


def open_store(path: str | Path) -> StateStore:
    """The SQLite store at ``path`` (created and migrated on first use)."""
    from crmseg.state.sqlite import SqliteStore

    return SqliteStore(path)


def state_label(cfg: Config) -> str:
    """Where the state lives, for messages (a server URL without its password)."""
    if cfg.state.url:
        from crmseg.state.postgres import display_url

        return display_url(cfg.state.url)
    return str(cfg.resolve(cfg.state.path))


@overload
def open_state(cfg: Config, create: Literal[True] = True) -> StateStore: ...


@overload
def open_state(cfg: Config, create: bool) -> StateStore | None: ...


def open_state(cfg: Config, create: bool = True) -> StateStore | None:
    """The config's state store; with ``create=False``, None when a SQLite file does not exist yet."""
    if cfg.state.url:
        from crmseg.state.postgres import PostgresStore

        return PostgresStore.from_config(cfg.state)
    path = cfg.resolve(cfg.state.path)
    if not create and not path.is_file():
        return None
    return open_store(path)
