"""The change guard (``max_changes``, ``sync --allow-changes``, ``audit``'s verdict): end to end
against the sandbox CRMs, plus the pure figures."""

from __future__ import annotations

import json

import pytest

from crmseg.audit.guard import ChangeLimit, GuardCheck
from crmseg.config import parse_max_changes
from crmseg.errors import ConfigError

from .sync_env import SyncEnv

N = 200


def _env(tmp_path, crm: str, max_changes: str) -> SyncEnv:
    return SyncEnv(tmp_path, crm, N, extra_config=f"max_changes = {max_changes}\n")


def _audit(env: SyncEnv, tmp_path, *extra: str) -> tuple[dict, str]:
    out = tmp_path / "audit.json"
    res = env.run("audit", "--config", str(env.config), "--json", str(out), *extra)
    assert res.returncode == 0, res.output
    return json.loads(out.read_text(encoding="utf-8")), res.stdout


# ---------------------------------------------------------------- the figures (pure)
def test_the_message_names_the_figures_and_the_limit():
    check = GuardCheck(ChangeLimit.of("20%"), 612, 1000)
    assert check.tripped and check.allowed == 200
    assert check.verdict() == "would change 612 of 1,000 accounts (61%), over max_changes = 20%"
    assert "nothing was written" in check.message() and "--allow-changes 612" in check.message()


@pytest.mark.parametrize(
    ("limit", "changes", "accounts", "tripped"),
    [
        ("20%", 200, 1000, False),  # "more than 20%" trips; 20% itself passes
        ("20%", 201, 1000, True),
        (500, 500, 1000, False),
        (500, 501, 1000, True),
        (0, 1, 10, True),
        ("0%", 0, 10, False),
        ("100%", 10, 10, False),
    ],
)
def test_over_the_limit_trips_at_the_limit_passes(limit, changes, accounts, tripped):
    assert GuardCheck(ChangeLimit.of(limit), changes, accounts).tripped is tripped


def test_allow_changes_replaces_max_changes_for_one_run():
    limit = ChangeLimit.of("1%", allow_changes=50)
    assert (limit.count, limit.source) == (50, "--allow-changes")
    assert ChangeLimit.of(None) is None


@pytest.mark.parametrize("bad", ["abc", "-5", "120%", "%", -1, True])
def test_a_bad_max_changes_is_refused(bad):
    with pytest.raises(ConfigError, match="max_changes"):
        parse_max_changes(bad)


def test_the_config_error_names_the_key(tmp_path):
    env = _env(tmp_path, "hubspot", '"lots"')
    try:
        res = env.sync()
        assert res.returncode == 2
        assert "max_changes" in res.stderr and "20%" in res.stderr, res.stderr
        assert not env.state_path.exists() or env.runs() == []
    finally:
        env.close()


# ---------------------------------------------------------------- end to end
@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_share_over_the_limit_writes_nothing_until_allowed(tmp_path, crm):
    env = _env(tmp_path, crm, '"5%"')
    try:
        before = env.crm_tags()
        report, text = _audit(env, tmp_path)
        guard = report["guard"]
        would = guard["would_change"]
        assert guard["tripped"] and guard["accounts"] == N and would > N * 0.05
        assert f"would change {would:,} of {N:,} accounts" in guard["message"]
        assert "Change guard: TRIPS" in text

        res = env.sync()
        assert res.returncode == 1, res.output
        assert f"would change {would:,} of {N:,} accounts" in res.stdout and "over max_changes = 5%" in res.stdout
        assert env.crm_tags() == before  # nothing written
        assert env.write_stats()["records_written"] == 0
        run = env.runs()[-1]
        assert (run.status, run.counts["written"], run.counts["changed"]) == ("aborted", 0, would)
        assert "over max_changes = 5%" in (run.message or "")
        assert not env.transitions()  # nothing recorded as changed either

        # one run through with too small an allowance: still nothing
        res = env.sync("--allow-changes", str(would - 1))
        assert res.returncode == 1 and f"over --allow-changes = {would - 1:,}" in res.stdout
        assert env.crm_tags() == before

        res = env.sync("--allow-changes", str(would))
        assert res.returncode == 0, res.output
        assert env.runs()[-1].status == "succeeded"
        after = env.crm_tags()
        assert sum(after[sid] != before[sid] for sid in before) == would  # the audit's figure, exactly
        report, text = _audit(env, tmp_path)
        assert report["guard"]["would_change"] == 0 and not report["guard"]["tripped"]
        assert "Change guard: passes" in text

        # the next run, within the limit, goes through without an allowance
        res = env.sync()
        assert res.returncode == 0 and env.runs()[-1].status == "succeeded"
    finally:
        env.close()


def test_a_count_limit_trips_and_one_within_it_passes(tmp_path):
    env = _env(tmp_path, "hubspot", "3")
    try:
        before = env.crm_tags()
        res = env.sync()
        assert res.returncode == 1 and "over max_changes = 3;" in res.stdout
        assert env.crm_tags() == before and env.runs()[-1].status == "aborted"
        # the same sync with a count it fits in
        env.config.write_text(env.config.read_text().replace("max_changes = 3", "max_changes = 1000"))
        report, _ = _audit(env, tmp_path)
        assert report["guard"]["max_changes"] == "1,000" and not report["guard"]["tripped"]
        res = env.sync()
        assert res.returncode == 0, res.output
        assert env.runs()[-1].status == "succeeded" and env.crm_tags() != before
    finally:
        env.close()


def test_no_guard_configured_reports_none(tmp_path):
    env = SyncEnv(tmp_path, "hubspot", 50)
    try:
        report, text = _audit(env, tmp_path)
        assert report["guard"] is None and "Change guard" not in text
    finally:
        env.close()
