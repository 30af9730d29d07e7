"""Sync state: runs, watermarks, the local copy of accounts, recorded tags, the
transition log, count snapshots, per-record errors, the write outbox and the per-sync
lease — behind one small interface (:class:`~crmseg.state.store.StateStore`).

``open_store`` picks the implementation from the config's ``[state]`` table.
"""

from __future__ import annotations

from pathlib import Path

from crmseg.state.store import StateStore

__all__ = ["StateStore", "open_store"]


def open_store(path: str | Path) -> StateStore:
    """The SQLite store at ``path`` (created and migrated on first use)."""
    from crmseg.state.sqlite import SqliteStore

    return SqliteStore(path)
