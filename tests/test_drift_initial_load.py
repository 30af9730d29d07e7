"""The initial load in state: ``first_eval`` on the transitions an account's first evaluation
logs (both backends), and the v5 migration that marks the ones logged before it."""

from __future__ import annotations

import sqlite3

import pytest

from crmseg.state.migrations import MIGRATIONS, VERSION
from crmseg.state.sqlite import SqliteStore
from crmseg.state.store import Confirmed, DimTag

from .state_backends import backend_params, open_backend

T0, T1, T2 = "2026-11-01T00:00:00.000000Z", "2026-11-02T00:00:00.000000Z", "2026-11-03T00:00:00.000000Z"


@pytest.fixture(params=backend_params())
def store(request, tmp_path):
    s = open_backend(request.param, tmp_path, request)
    yield s
    s.close()


def _confirm(store, run: int, at: str, account: str, dim: str, crm_before: str | None, value: str | None) -> None:
    store.confirm("demo", run, at, [Confirmed(account, {dim: DimTag(crm_before, value, "r")})])


def test_first_evaluation_marks_its_transitions(store):
    r1 = store.begin_run("demo", "full", None, "fp", "h", T0)
    _confirm(store, r1, T0, "a", "segment", None, "SMB")  # first evaluation: backfill
    _confirm(store, r1, T0, "b", "segment", "Enterprise", "SMB")  # first evaluation over a CRM value
    _confirm(store, r1, T0, "c", "segment", None, None)  # first evaluation, nothing to log
    r2 = store.begin_run("demo", "incremental", None, "fp", "h", T1)
    _confirm(store, r2, T1, "a", "segment", "SMB", None)  # loses its value ...
    _confirm(store, r2, T1, "c", "segment", None, "Mid")  # recorded as (none) in run 1: a real move
    _confirm(store, r2, T1, "a", "tier", None, "Tier 1")  # a new dimension's first evaluation
    r3 = store.begin_run("demo", "incremental", None, "fp", "h", T2)
    _confirm(store, r3, T2, "a", "segment", None, "Mid")  # ... and regains one: a real move
    got = [(t.account, t.dimension, t.from_value, t.to_value, t.run, t.first_eval) for t in store.transitions("demo")]
    assert got == [
        ("a", "segment", None, "SMB", r1, True),
        ("b", "segment", "Enterprise", "SMB", r1, True),
        ("a", "segment", "SMB", None, r2, False),
        ("c", "segment", None, "Mid", r2, False),
        ("a", "tier", None, "Tier 1", r2, True),
        ("a", "segment", None, "Mid", r3, False),
    ]


def test_a_version_3_file_is_migrated_and_its_first_moves_out_of_none_marked(tmp_path):
    path = tmp_path / "v3.sqlite"
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:3]:
        for stmt in migration:
            conn.execute(stmt.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT", big="INTEGER"))
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '3')")
    rows = [
        ("a", "segment", None, "SMB", "r", 1),  # first logged move out of (none): the backfill
        ("b", "segment", "SMB", "Mid", "r", 1),  # a first move from a value: a move
        ("a", "segment", "SMB", None, "r", 2),
        ("a", "segment", None, "Mid", "r", 3),  # regained: a move
        ("c", "segment", None, "SMB", "(crm edit)", 2),  # someone set it in the CRM: not crmseg's backfill
        ("a", "tier", None, "Tier 1", "r", 2),
        ("a", "segment", None, "SMB", "r", 1),  # same account in another sync: its own first move
    ]
    for i, (acc, dim, frm, to, rule, run) in enumerate(rows):
        conn.execute(
            "INSERT INTO transitions (sync, account, dimension, from_value, to_value, rule, run, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("other" if i == 6 else "demo", acc, dim, frm, to, rule, run, T0),
        )
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    try:
        assert store.schema_version() == VERSION >= 5
        marks = [(t.account, t.dimension, t.from_value, t.to_value, t.first_eval) for t in store.transitions("demo")]
        assert marks == [
            ("a", "segment", None, "SMB", True),
            ("b", "segment", "SMB", "Mid", False),
            ("a", "segment", "SMB", None, False),
            ("a", "segment", None, "Mid", False),
            ("c", "segment", None, "SMB", False),
            ("a", "tier", None, "Tier 1", True),
        ]
        assert [t.first_eval for t in store.transitions("other")] == [True]
    finally:
        store.close()
