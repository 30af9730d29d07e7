"""``crmseg sync`` end to end: the real CLI (in-process), the real clients over HTTP on
127.0.0.1 against the sandbox CRMs, a real SQLite state file."""

from __future__ import annotations

import csv
import json
import re
import shutil
import socket
from datetime import UTC, datetime, timedelta

import pytest

from crmseg.audit.plan import plan_config
from crmseg.config import load_config
from crmseg.state.sqlite import SqliteStore
from crmseg.sync.decide import MAX_ATTEMPTS
from crmseg.sync.outcome import SyncOptions
from crmseg.sync.runner import run_sync
from crmseg.tags import tag_text

from .cli_run import ROOT, CliResult, crmseg
from .sync_env import SyncEnv

CRMS = ("salesforce", "hubspot", "zoho")
N = 400


@pytest.fixture(params=CRMS)
def env(request, tmp_path):
    e = SyncEnv(tmp_path, request.param, N)
    yield e
    e.close()


def _pinned(env: SyncEnv) -> set[str]:
    pin = env.sb.mapping.pin_field
    return {env.seed_of[r.id] for r in env.sb.store.scan() if str(r.data.get(pin)).lower() == "true"}


def _audit_changes(env: SyncEnv, out, config=None) -> set[str]:
    """Seed ids the audit says would change (mapped dims, not pinned) — computed by the audit, not the sync."""
    res = env.run("audit", "--config", str(config or env.config), "--engine", "native", "--csv", str(out), "-q")
    assert res.returncode == 0, res.stderr
    pinned = _pinned(env)
    ids = set()
    with open(out, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            sid = env.seed_of.get(row["id"], row["id"])
            if sid in pinned:
                continue
            if any(tag_text(row[d]) != tag_text(row[f"{d}_current"]) for d in env.tag_fields):
                ids.add(sid)
    return ids


def test_sync_writes_what_the_audit_predicts_then_nothing(env, tmp_path):
    before = env.crm_tags()
    expected = _audit_changes(env, tmp_path / "a1.csv")
    assert expected, "the synthetic accounts start with stale tags"
    env.sb.reset_stats()
    first = env.sync()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "succeeded" in first.stdout and "full read" in first.stdout
    stats = env.write_stats()
    assert stats["records_written"] == len(expected) and stats["records_failed"] == 0
    assert set(stats["fields_written"]) <= set(env.tag_fields.values())  # only mapped tag fields, ever
    after = env.crm_tags()
    assert {sid for sid in after if after[sid] != before[sid]} <= expected
    for sid in _pinned(env):
        assert after[sid] == before[sid]  # pinned accounts are never written
    assert _audit_changes(env, tmp_path / "a2.csv") == set()  # the CRM now holds what the rules say
    run = env.runs()[-1]
    assert (run.status, run.counts["changed"], run.counts["written"], run.counts["read"]) == (
        "succeeded",
        len(expected),
        len(expected),
        N,
    )
    assert run.counts["api_calls"] == stats["calls"]["total"]  # the run's own count matches the CRM's
    env.sb.reset_stats()
    second = env.sync()
    assert second.returncode == 0, second.stdout + second.stderr
    assert env.write_stats()["write_calls"] == 0
    assert "incremental read" in second.stdout
    trans = env.transitions()
    assert trans and max(trans.values()) == 1


def test_a_rule_edit_writes_exactly_the_accounts_whose_tags_change(env, tmp_path):
    assert env.sync().returncode == 0
    seg = env.rules / "segment.toml"
    seg.write_text(
        seg.read_text()
        .replace("employees >= 1000 or", "employees >= 700 or")
        .replace("100 <= employees < 1000", "100 <= employees < 700"),
        encoding="utf-8",
    )
    expected = _audit_changes(env, tmp_path / "edit.csv")
    assert 0 < len(expected) < N
    env.sb.reset_stats()  # (the audit's reads are not the sync's)
    res = env.sync()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "every account re-evaluated" in res.stdout
    stats = env.write_stats()
    assert stats["records_written"] == len(expected)
    run = env.runs()[-1]
    assert run.counts["changed"] == len(expected) and run.counts["evaluated"] == N
    moved = {sid for (sid, dim, *_), n in env.transitions().items() if dim == "segment"}
    store = env.store()
    try:
        in_run = {env.seed_of[t.account] for t in store.transitions("sandbox", run_ids=[run.id])}
    finally:
        store.close()
    assert in_run == expected and in_run <= moved | expected


def test_an_account_crossing_a_days_since_threshold_is_retagged_without_being_modified(tmp_path):
    for crm in CRMS:
        env = SyncEnv(tmp_path / crm, crm, N, static_rules=False)
        try:
            _days_since_crossing(env)
        finally:
            env.close()


def test_a_days_since_rule_written_with_a_space_before_the_parenthesis_still_retags(tmp_path):
    env = SyncEnv(tmp_path, "hubspot", N, static_rules=False)
    try:
        for path in env.rules.glob("*.toml"):
            path.write_text(path.read_text(encoding="utf-8").replace("days_since(", "days_since ("), encoding="utf-8")
        assert "days_since (last_activity_at)" in (env.rules / "icp_score.toml").read_text(encoding="utf-8")
        _days_since_crossing(env)
    finally:
        env.close()


def _days_since_crossing(env: SyncEnv) -> None:
    src = env.sb.mapping.source_of("last_activity_at")
    t0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
    rid = env.sb.ids()[0]
    env.sb.edit({rid: {src: (t0 - timedelta(days=30) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")}})
    cfg = load_config(env.config)
    sync_cfg = cfg.sync(None)

    def run_at(now: datetime):
        plan = plan_config(env.config, None, "native", now=now, writes=True, env=env.sb.env())
        store = SqliteStore(env.state_path)
        try:
            return run_sync(plan, sync_cfg, store, SyncOptions())
        finally:
            plan.connector.close()
            store.close()

    assert run_at(t0).status == "succeeded"
    assert run_at(t0).counts["changed"] == 0  # reads back its own writes, writes nothing
    score = env.crm_tags()[env.seed_of[rid]]["icp_score"]
    later = run_at(t0 + timedelta(days=2))  # 31 days since the activity: 10 points become 5
    assert later.status == "succeeded" and later.reevaluated_all
    assert float(env.crm_tags()[env.seed_of[rid]]["icp_score"]) == float(score) - 5
    assert later.counts["changed"] >= 1


def test_a_locked_sync_is_not_started_and_names_the_holder(env):
    store = SqliteStore(env.state_path)
    try:
        assert store.acquire_lease("sandbox", "other-host:4242:abcd", "other-host", 4242, 600) is None
        res = env.sync()
        assert res.returncode == 3
        assert "locked by other-host:4242:abcd" in res.stderr and "pid 4242" in res.stderr
        assert env.write_stats()["write_calls"] == 0 and store.last_run("sandbox") is None
        # a holder on this host whose process is gone is taken over at once
        store.release_lease("sandbox", "other-host:4242:abcd")
        dead = _dead_pid()
        store.acquire_lease("sandbox", f"{socket.gethostname()}:{dead}:dead", socket.gethostname(), dead, 600)
    finally:
        store.close()
    res = env.sync()
    assert res.returncode == 0, res.stdout + res.stderr


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_bad_input_leaves_state_and_crm_untouched_and_records_the_failed_run(env, tmp_path):
    tries = 0

    def assert_untouched(res, code: int, *needles: str) -> None:
        nonlocal tries
        assert res.returncode == code, res.stdout + res.stderr
        assert "Traceback" not in res.stderr
        for needle in needles:
            assert needle in res.stderr
        assert env.write_stats()["write_calls"] == 0
        # the state holds the refused run (failed, nothing read) and nothing of the CRM's records
        tries += 1
        store = env.store()
        try:
            runs = store.runs("sandbox")
            assert store.account_count("sandbox") == 0 and store.transitions("sandbox") == []
            assert store.sync_state("sandbox").watermark is None
        finally:
            store.close()
        assert [(r.status, r.mode, r.counts["read"]) for r in runs] == [("failed", "none", 0)] * tries
        assert needles[-1] in (runs[-1].message or "")

    # a mapping naming a field the CRM lacks
    mapping = tmp_path / "bad-mapping.toml"
    text = (ROOT / "connectors" / f"{env.crm}.toml").read_text(encoding="utf-8")
    src = env.sb.mapping.source_of("industry")
    mapping.write_text(text.replace(f'source = "{src}"', 'source = "No_Such_Field__c"', 1), encoding="utf-8")
    good = env.config.read_text(encoding="utf-8")
    env.config.write_text(good.replace(env.sb.mapping.path, str(mapping)), encoding="utf-8")
    assert_untouched(env.sync(), 2, "No_Such_Field__c")
    env.config.write_text(good, encoding="utf-8")
    # a rules folder with an error
    shutil.copy(env.rules / "tier.toml", tmp_path / "tier.bak")
    (env.rules / "tier.toml").write_text(
        (tmp_path / "tier.bak").read_text().replace("icp_score >= 70", "icp_scor >= 70")
    )
    assert_untouched(env.sync(), 2, "tier.toml", "icp_scor")
    shutil.copy(tmp_path / "tier.bak", env.rules / "tier.toml")
    # a CRM that rejects the login
    var = {"hubspot": "HUBSPOT_ACCESS_TOKEN", "zoho": "ZOHO_REFRESH_TOKEN"}.get(env.crm, "SF_CONSUMER_SECRET")
    res = crmseg("sync", "--config", env.config, "-q", cwd=env.tmp, env={**env.sb.env(), var: "wrong-secret-value"})
    assert_untouched(res, 4, "refused", var)  # 4: the CRM refused us, naming where the credentials came from
    assert "wrong-secret-value" not in res.stdout + res.stderr
    # an exhausted daily limit
    env.sb.configure(daily_limit=0)
    assert_untouched(env.sync(), 1, "limit")


def test_failed_records_are_retried_and_permanent_ones_kept_apart(env):
    ids = env.sb.ids()
    flaky, bad = ids[:5], ids[5:8]
    env.sb.inject(
        {"kind": "record_failure", "ids": flaky, "error": "UNABLE_TO_LOCK_ROW"},
        {
            "kind": "record_failure",
            "ids": bad,
            "count": -1,
            "error": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "message": "bad value for restricted picklist field",
        },
    )
    first = env.sync()
    assert first.returncode == 1, first.stdout + first.stderr
    assert "partial" in first.stdout and all(i in first.stdout for i in flaky + bad)
    status = json.loads(env.run("status", "--config", str(env.config), "--json").stdout)["syncs"]["sandbox"]
    assert status["last_run"]["status"] == "partial" and status["last_run"]["failed"] == 8
    assert status["pending_retries"] == 5 and status["blocked"] == 3
    second = env.sync()
    assert second.returncode == 0, second.stdout + second.stderr
    run = env.runs()[-1]
    assert run.counts["written"] == 5 and run.counts["blocked"] == 3 and run.counts["failed"] == 0
    env.sb.clear_faults()
    third = env.sync("--full")  # after the admin fixed the picklist: --full retries blocked records
    assert third.returncode == 0
    assert env.runs()[-1].counts["written"] == 3
    status = json.loads(env.run("status", "--config", str(env.config), "--json").stdout)["syncs"]["sandbox"]
    assert status["pending_retries"] == 0 and status["blocked"] == 0
    assert max(env.transitions().values()) == 1


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_a_locked_record_is_retried_however_many_runs_it_failed(crm, tmp_path):
    """A row lock clears on a retry, however often it repeats: a record refused with
    ``UNABLE_TO_LOCK_ROW`` by more runs in a row than :data:`MAX_ATTEMPTS` is still retried by the
    next incremental run and ends with its tags (it is not blocked as if the error were permanent)."""
    env = SyncEnv(tmp_path, crm, 60)
    try:
        env.sb.inject({"kind": "record_failure", "error": "UNABLE_TO_LOCK_ROW"})  # the first record written
        assert env.sync().returncode == 1
        store = env.store()
        try:
            (locked,) = store.record_errors("sandbox")
        finally:
            store.close()
        env.sb.inject({"kind": "record_failure", "ids": [locked], "count": MAX_ATTEMPTS, "error": "UNABLE_TO_LOCK_ROW"})
        for _ in range(MAX_ATTEMPTS):  # the same record refused again by each next run
            res = env.sync()
            assert res.returncode == 1, res.stdout + res.stderr
            assert env.runs()[-1].counts["failed"] == 1
        store = env.store()
        try:
            err = store.record_errors("sandbox")[locked]
        finally:
            store.close()
        assert err.attempts == MAX_ATTEMPTS + 1 and not err.permanent, err
        res = env.sync()  # the lock is gone
        assert res.returncode == 0, res.stdout + res.stderr
        run = env.runs()[-1]
        assert run.mode == "incremental" and run.counts["written"] == 1 and run.counts["blocked"] == 0
        tags = env.crm_tags()[env.seed_of[locked]]
        assert err.targets and {d: tags[d] for d in err.targets} == err.targets  # the CRM holds its tags now
        assert max(env.transitions().values()) == 1
    finally:
        env.close()


def test_an_unknown_error_failing_max_attempts_runs_is_blocked_until_a_full_run(tmp_path):
    """An error of no known kind that fails :data:`MAX_ATTEMPTS` runs in a row is kept apart as
    blocked (the next incremental run does not send it again); ``--full`` retries it."""
    env = SyncEnv(tmp_path, "hubspot", 60)
    try:
        env.sb.inject({"kind": "record_failure", "error": "MYSTERY"})
        assert env.sync().returncode == 1
        store = env.store()
        try:
            (stuck,) = store.record_errors("sandbox")
        finally:
            store.close()
        env.sb.inject({"kind": "record_failure", "ids": [stuck], "count": MAX_ATTEMPTS - 1, "error": "MYSTERY"})
        for _ in range(MAX_ATTEMPTS - 1):
            assert env.sync().returncode == 1
        store = env.store()
        try:
            err = store.record_errors("sandbox")[stuck]
        finally:
            store.close()
        assert err.permanent and err.attempts == MAX_ATTEMPTS and f"gave up after {MAX_ATTEMPTS} attempts" in err.error
        assert env.sync().returncode == 0
        assert env.runs()[-1].counts["blocked"] == 1 and env.runs()[-1].counts["written"] == 0
        assert env.sync("--full").returncode == 0
        assert env.runs()[-1].counts["written"] == 1 and env.runs()[-1].counts["blocked"] == 0
    finally:
        env.close()


def _daily_limit(env: SyncEnv, limit: int) -> None:
    env.sb.configure(daily_limit=limit)
    if env.crm == "zoho":  # Zoho tells what is left only past half: crmseg counts against the configured credits
        text = env.config.read_text()
        env.config.write_text(re.sub(r"api_credits = \d+", f"api_credits = {limit}", text), encoding="utf-8")


def test_the_api_reserve_stops_between_batches_and_the_next_run_finishes(env):
    env.config.write_text(env.config.read_text() + "api_reserve = 1000\nbatch_size = 50\n", encoding="utf-8")
    # One figure for both CRMs, not an exact count: it covers the reads before the first write on either
    # (2 calls on Salesforce: describe and one query page; 5 on HubSpot: the property list and four pages of 100).
    # With 1000 reserved, the allowance lets some of the 8 batches of 50 through (7 on Salesforce, 4 on HubSpot).
    used_by_reads = 6
    _daily_limit(env, 1000 + used_by_reads + 3)
    res = env.sync()
    assert res.returncode == 1, res.stdout + res.stderr
    assert "aborted" in res.stdout and "reserved" in res.stdout
    run = env.runs()[-1]
    assert run.status == "aborted" and 0 < run.counts["written"] < run.counts["changed"]
    assert run.watermark_after is None
    _daily_limit(env, 1_000_000)
    env.sb.reset_stats()
    assert env.sync().returncode == 0
    assert env.sync().returncode == 0 and env.runs()[-1].counts["changed"] == 0
    assert max(env.transitions().values()) == 1


def test_deleted_accounts_leave_the_population_on_a_full_read(env):
    assert env.sync().returncode == 0
    gone = env.sb.ids()[:10]
    with env.sb.app.lock:
        env.sb.store._db.executemany("DELETE FROM records WHERE id = ?", [(g,) for g in gone])
    history = sum(env.transitions().values())
    assert env.sync("--full").returncode == 0
    store = env.store()
    try:
        assert store.account_count("sandbox") == N - 10
        snap = store.snapshots("sandbox", [env.runs()[-1].id])[env.runs()[-1].id]
        assert sum(snap["segment"].values()) == N - 10
        assert len(store.transitions("sandbox")) >= history  # their history stays
    finally:
        store.close()


def test_dry_run_writes_nothing_and_keeps_no_state(env):
    res = env.sync("--dry-run")
    assert res.returncode == 0, res.stderr
    assert "dry run" in res.stdout
    assert env.write_stats()["write_calls"] == 0 and not env.state_path.exists()


def test_a_file_sync_writes_an_import_ready_changes_file_and_keeps_history(tmp_path):
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "accounts.csv")
    (tmp_path / "config.toml").write_text(
        '[state]\npath = "state/crmseg.sqlite"\n[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\n'
        f'mapping = "{ROOT / "connectors" / "csv.toml"}"\nrules = "rules"\nengine = "native"\n'
        'changes_path = "out/changes.csv"\n',
        encoding="utf-8",
    )

    def sync() -> CliResult:
        return crmseg("sync", "--config", "config.toml", "-q", cwd=tmp_path)

    source = (tmp_path / "accounts.csv").read_bytes()
    first = sync()
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "accounts.csv").read_bytes() == source  # the source is never rewritten
    with open(tmp_path / "out" / "changes.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == ["id", "crmseg_icp_score", "crmseg_segment", "crmseg_stage", "crmseg_tier"]
    with open(tmp_path / "accounts.csv", newline="", encoding="utf-8") as fh:
        src = {r["id"]: r for r in csv.DictReader(fh)}
    for row in rows:
        assert any(row[c] and tag_text(row[c]) != tag_text(src[row["id"]].get(c)) for c in row if c != "id")
    assert sync().returncode == 0
    store = SqliteStore(tmp_path / "state" / "crmseg.sqlite")
    try:
        runs = store.runs("demo")
        assert [r.status for r in runs] == ["succeeded", "succeeded"]
        logged = store.transitions("demo")
        assert logged and {t.run for t in logged} == {runs[0].id}  # nothing logged twice
    finally:
        store.close()


def test_a_file_sync_with_bad_rows_stops_or_skips_and_names_them(tmp_path):
    """A ragged row and a repeated id stop a file sync (exit 2, nothing kept) unless the sync opts
    into skip_bad_rows: then the run summary counts and names them, and they are not written."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    lines = (ROOT / "examples" / "accounts.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    ragged_id = lines[5].split(",", 1)[0]
    lines[5] = lines[5].rstrip("\n") + ",extra\n"  # line 6: one field too many
    lines.append(lines[9])  # the account on line 10 again, as the last line
    (tmp_path / "accounts.csv").write_text("".join(lines), encoding="utf-8")
    config = (
        '[state]\npath = "state/crmseg.sqlite"\n[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\n'
        f'mapping = "{ROOT / "connectors" / "csv.toml"}"\nrules = "rules"\nengine = "native"\n'
        'changes_path = "out/changes.csv"\n'
    )

    def sync() -> CliResult:
        return crmseg("sync", "--config", "config.toml", "-q", cwd=tmp_path)

    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    strict = sync()
    assert strict.returncode == 2, strict.stdout + strict.stderr
    said = strict.stdout + strict.stderr
    assert "accounts.csv:6: 28 fields, the header has 27" in said and "skip_bad_rows = true" in said
    assert "Traceback" not in said
    assert not (tmp_path / "out" / "changes.csv").exists()

    (tmp_path / "config.toml").write_text(config + "skip_bad_rows = true\n", encoding="utf-8")
    lenient = sync()
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert "skipped 2 bad input row(s)" in lenient.stdout
    last = len(lines)
    assert "accounts.csv:6:" in lenient.stdout and f"accounts.csv:{last}:" in lenient.stdout
    assert "read 399 " in lenient.stdout  # 401 data rows, the two bad ones left out
    with open(tmp_path / "out" / "changes.csv", newline="", encoding="utf-8") as fh:
        assert ragged_id not in {r["id"] for r in csv.DictReader(fh)}


def test_salesforce_writes_above_bulk_threshold_go_through_bulk_api_jobs(tmp_path):
    env = SyncEnv(tmp_path, "salesforce", N)
    try:
        env.config.write_text(
            env.config.read_text().replace("bulk_threshold = 1000000", "bulk_threshold = 100"), encoding="utf-8"
        )
        expected = _audit_changes(env, tmp_path / "a.csv")
        assert len(expected) > 100
        env.sb.reset_stats()
        res = env.sync()
        assert res.returncode == 0, res.stdout + res.stderr
        stats = env.write_stats()
        assert stats["bulk_jobs"] == 1 and stats["calls"]["by_endpoint"].get("composite_update", 0) == 0
        assert stats["records_written"] == len(expected)
        assert _audit_changes(env, tmp_path / "b.csv") == set()
        assert env.runs()[-1].counts["written"] == len(expected) and max(env.transitions().values()) == 1
    finally:
        env.close()
