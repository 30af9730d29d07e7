"""The state store backends the shared store tests run on: a SQLite file, and a fresh
database on the PostgreSQL server the tests start (``tests/pg_server.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crmseg.state.sqlite import SqliteStore


def backend_params() -> list[Any]:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def open_backend(name: str, tmp_path: Path, request: pytest.FixtureRequest | None = None) -> Any:
    """A new, empty store of backend ``name`` (``postgres`` needs the test's ``request``)."""
    if name == "sqlite":
        return SqliteStore(tmp_path / "state.sqlite")
    if name == "postgres":
        from crmseg.state.postgres import PostgresStore

        if request is None:
            raise ValueError("the postgres backend needs the test's request (for the pg_server fixture)")
        server = request.getfixturevalue("pg_server")
        return PostgresStore(server.new_database(), password=server.password)
    raise ValueError(name)
