"""Shared fixtures: a real PostgreSQL server for the server state store's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .pg_server import PgServer, unavailable


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server started for this test session (skips, saying why, without the binaries)."""
    reason = unavailable()
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh empty database on the session's server (URL without password)."""
    return pg_server.new_database()
