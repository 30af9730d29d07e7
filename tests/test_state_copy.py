"""``state copy``'s checks of its SQLite source, which run before the PostgreSQL target is
touched (the copy itself is tested against a real server in test_state_postgres_cli.py)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from crmseg.errors import ConfigError
from crmseg.state.copy import copy_sqlite
from crmseg.state.migrations import VERSION
from crmseg.state.sqlite import SqliteStore

NO_TARGET: Any = None  # never reached: each source below is refused first


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.sqlite: no such state file"):
        copy_sqlite(tmp_path / "missing.sqlite", NO_TARGET)


def test_a_sqlite_file_that_is_not_a_state_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE t (x)")
        db.commit()
    with pytest.raises(ConfigError, match=r"other\.sqlite: not a crmseg state file \(no meta table\)"):
        copy_sqlite(other, NO_TARGET)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "accounts.csv"
    text.write_text("id,name\n1,Acme\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"accounts\.csv: cannot read the state file"):
        copy_sqlite(text, NO_TARGET)


def test_a_newer_schema_is_refused_and_the_source_left_unchanged(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    SqliteStore(state).close()
    with closing(sqlite3.connect(state)) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(VERSION + 1),))
        db.commit()
    before = state.read_bytes()
    with pytest.raises(ConfigError, match=rf"state schema version {VERSION + 1} is newer than this crmseg understands"):
        copy_sqlite(state, NO_TARGET)
    assert state.read_bytes() == before
