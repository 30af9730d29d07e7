"""``crmseg sync``/``status``/``drift`` on a PostgreSQL ``[state] url``, ``crmseg state migrate``
and ``crmseg state copy`` — the real CLI (in-process), on the server the tests start."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from crmseg.drift.measures import is_initial_load
from crmseg.state.migrations import VERSION
from crmseg.state.postgres import PostgresStore
from crmseg.state.sqlite import SqliteStore
from crmseg.state.store import Confirmed

from .cli_run import ROOT, CliResult, crmseg

pytestmark = pytest.mark.postgres


class CsvProject:
    """The shipped rules and sample accounts, a CSV sync ``demo`` and a config per state store."""

    def __init__(self, tmp: Path, pg_url: str, password: str) -> None:
        self.tmp, self.url, self.password = tmp, pg_url, password
        shutil.copytree(ROOT / "rules", tmp / "rules")
        shutil.copy(ROOT / "examples" / "accounts.csv", tmp / "accounts.csv")
        sync = (
            f'[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\nmapping = "{ROOT / "connectors" / "csv.toml"}"\n'
            'rules = "rules"\nengine = "native"\nchanges_path = "out/changes.csv"\n'
        )
        (tmp / "sqlite.toml").write_text(f'[state]\npath = "state/crmseg.sqlite"\n{sync}', encoding="utf-8")
        (tmp / "pg.toml").write_text(f'[state]\nurl = "{pg_url}"\nlease = "30s"\n{sync}', encoding="utf-8")
        self.sqlite_path = tmp / "state" / "crmseg.sqlite"

    def run(self, *args: str, password: str | None = None) -> CliResult:
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PG")}  # libpq's own defaults off
        env["CRMSEG_STATE_PASSWORD"] = self.password if password is None else password
        res = crmseg(*args, cwd=self.tmp, env=env)
        assert self.password not in res.stdout + res.stderr  # never printed, whatever happens
        return res

    def edit_rules(self) -> None:
        """Enterprise from 500 employees (was 1,000): the next run moves some accounts."""
        seg = self.tmp / "rules" / "segment.toml"
        seg.write_text(
            seg.read_text(encoding="utf-8").replace('"employees >= 1000 or', '"employees >= 500 or'), encoding="utf-8"
        )

    def pg(self) -> PostgresStore:
        return PostgresStore(self.url, password=self.password)


@pytest.fixture
def project(tmp_path, pg_server, pg_url) -> CsvProject:
    return CsvProject(tmp_path, pg_url, pg_server.password)


def history(store) -> dict:
    """Everything the copy must carry, as plain data."""
    runs = store.runs("demo")
    ids = [a for a, _ in store.iter_accounts("demo")]
    return {
        "syncs": store.syncs(),
        "runs": [r.as_dict() | {"holder": r.holder} for r in runs],
        "sync_state": store.sync_state("demo"),
        "accounts": list(store.iter_accounts("demo")),
        "account_count": store.account_count("demo"),
        "tags": store.recorded_tags("demo", ids),
        "transitions": store.transitions("demo"),
        "snapshots": store.snapshots("demo", [r.id for r in runs]),
        "outbox": store.outbox("demo"),
        "errors": store.record_errors("demo"),
    }


def test_sync_status_and_drift_work_on_a_postgresql_state_url(project):
    first = project.run("sync", "--config", "pg.toml", "-q")
    assert first.returncode == 0, first.stderr
    project.edit_rules()
    second = project.run("sync", "--config", "pg.toml", "-q")
    assert second.returncode == 0, second.stderr
    store = project.pg()
    try:
        runs = store.runs("demo")
        assert [(r.id, r.status) for r in runs] == [(1, "succeeded"), (2, "succeeded")]
        moved = [t for t in store.transitions("demo") if t.run == 2]
        assert moved and {t.to_value for t in moved if t.dimension == "segment"} == {"Enterprise"}
        assert store.account_count("demo") == 400 and store.lease("demo") is None  # released
        assert (
            store.snapshots("demo", [2])[2]["segment"]["Enterprise"]
            > store.snapshots("demo", [1])[1]["segment"]["Enterprise"]
        )
        # drift counts real moves: the initial load (first evaluations out of "(none)") is apart
        segment_moves = len(
            [t for t in store.transitions("demo") if t.dimension == "segment" and not is_initial_load(t)]
        )
    finally:
        store.close()
    status = project.run("status", "--config", "pg.toml", "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["state"] == project.url
    assert doc["syncs"]["demo"]["last_run"]["id"] == 2 and doc["syncs"]["demo"]["last_run"]["status"] == "succeeded"
    text = project.run("status", "--config", "pg.toml")
    assert text.returncode == 0 and f"state: {project.url}" in text.stdout and "last run #2 succeeded" in text.stdout
    drift = project.run("drift", "--config", "pg.toml", "--json", "drift.json")
    assert drift.returncode == 0, drift.stderr
    report = json.loads((project.tmp / "drift.json").read_text(encoding="utf-8"))
    assert [r["id"] for r in report["runs"]] == [1, 2]
    assert report["dimensions"]["segment"]["moves"] == segment_moves


def test_a_sync_locked_by_another_host_on_postgresql_is_not_started(project):
    store = project.pg()
    try:
        assert store.acquire_lease("demo", "other-host:4242:abcd", "other-host", 4242, 600) is None
        res = project.run("sync", "--config", "pg.toml", "-q")
        assert res.returncode == 3
        assert "locked by other-host:4242:abcd" in res.stderr and "Traceback" not in res.stderr
        assert store.runs("demo") == []
    finally:
        store.close()


def test_a_wrong_password_or_no_server_is_a_clear_error_naming_the_url(project, tmp_path):
    bad = project.run("status", "--config", "pg.toml", password="wrong-pw")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert f"error: {project.url}: cannot connect" in bad.stderr and "password authentication failed" in bad.stderr
    assert "wrong-pw" not in bad.stderr
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"postgresql://crmseg@127.0.0.1:{s.getsockname()[1]}/nowhere"
        cfg = (project.tmp / "pg.toml").read_text(encoding="utf-8").replace(project.url, url)
        (project.tmp / "down.toml").write_text(cfg, encoding="utf-8")
        res = project.run("sync", "--config", "down.toml", "-q")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"error: {url}: cannot connect to the PostgreSQL state store" in res.stderr


def test_state_migrate_creates_the_schema_then_reports_it_up_to_date(project):
    first = project.run("state", "migrate", "--config", "pg.toml")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"{project.url}: state schema version {VERSION} (created)"
    again = project.run("state", "migrate", "--config", "pg.toml")
    assert again.stdout.strip() == f"{project.url}: state schema version {VERSION} (up to date)"
    lite = project.run("state", "migrate", "--config", "sqlite.toml")
    assert lite.returncode == 0 and lite.stdout.strip().endswith(f"state schema version {VERSION} (created)")
    assert project.sqlite_path.is_file()


def test_state_copy_moves_sqlite_history_into_postgresql_unchanged(project):
    for _ in range(2):
        res = project.run("sync", "--config", "sqlite.toml", "-q")
        assert res.returncode == 0, res.stderr
    project.edit_rules()
    res = project.run("sync", "--config", "sqlite.toml", "-q")
    assert res.returncode == 0, res.stderr
    lite = SqliteStore(project.sqlite_path)
    try:
        want = history(lite)
    finally:
        lite.close()
    assert [r["status"] for r in want["runs"]] == ["succeeded"] * 3
    assert {t.run for t in want["transitions"]} == {1, 3}  # transitions of two runs, in log order
    digest = hashlib.sha256(project.sqlite_path.read_bytes()).hexdigest()

    copied = project.run("state", "copy", "--from", "state/crmseg.sqlite", "--config", "pg.toml")
    assert copied.returncode == 0, copied.stderr
    assert f"into {project.url}: 3 runs, 1 sync_state, 400 accounts" in copied.stdout
    assert hashlib.sha256(project.sqlite_path.read_bytes()).hexdigest() == digest  # the source is untouched
    store = project.pg()
    try:
        assert history(store) == want
        first_ids = [i for (i,) in store._query("SELECT id FROM transitions ORDER BY id")]
    finally:
        store.close()

    refused = project.run("state", "copy", "--from", "state/crmseg.sqlite", "--config", "pg.toml")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "the target state store is not empty (3 runs" in refused.stderr and "--force" in refused.stderr
    forced = project.run("state", "copy", "--from", "state/crmseg.sqlite", "--config", "pg.toml", "--force")
    assert forced.returncode == 0, forced.stderr

    # the sequences continue after the copied ids: the next run and its moves get new ids
    seg = project.tmp / "rules" / "segment.toml"
    seg.write_text(
        seg.read_text(encoding="utf-8").replace('"employees >= 500 or', '"employees >= 300 or'), encoding="utf-8"
    )
    res = project.run("sync", "--config", "pg.toml", "-q")
    assert res.returncode == 0, res.stderr
    store = project.pg()
    try:
        after = history(store)
        assert after["runs"][:3] == want["runs"] and after["runs"][3]["id"] == 4
        assert after["transitions"][: len(want["transitions"])] == want["transitions"]
        new = after["transitions"][len(want["transitions"]) :]
        assert new and {t.run for t in new} == {4}
        ids = [i for (i,) in store._query("SELECT id FROM transitions ORDER BY id")]
        assert ids[: len(first_ids)] == first_ids and min(ids[len(first_ids) :]) > max(first_ids)
        assert (
            store.confirm(
                "demo", 4, "2026-12-01T00:00:00.000000Z", [Confirmed("acc-000001", {"segment": ("x", "y", "r")})]
            )
            >= 1
        )
    finally:
        store.close()


def test_state_copy_needs_a_postgresql_target_and_a_state_file(project):
    res = project.run("state", "copy", "--from", "accounts.csv", "--config", "sqlite.toml")
    assert res.returncode == 2 and "[state] url is not set" in res.stderr
    res = project.run("state", "copy", "--from", "accounts.csv", "--config", "pg.toml")
    assert res.returncode == 2 and "accounts.csv: cannot read the state file" in res.stderr
    assert "Traceback" not in res.stderr
