"""``crmseg sync --undo RUN``: the values a run replaced written back through the real vendor
clients against the sandbox CRMs (in-process CLI), the CRM's final values checked; the holds
that keep the next run from writing the bad values again; the refusals; plus the pure parts."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import pytest

from crmseg.drift.measures import is_initial_load
from crmseg.state.store import TagRecord, Transition
from crmseg.sync.undo import plan_undo, typed_value, undone_run
from crmseg.sync.writer import Writer

from .sync_env import SyncEnv

N = 120


def _edit(env: SyncEnv, file: str, old: str, new: str) -> None:
    path = env.rules / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def _bad_edit(env: SyncEnv) -> None:
    """A typo'd threshold (most mid-size accounts become Enterprise) and an inflated score."""
    _edit(env, "segment.toml", "employees >= 1000 or", "employees >= 100 or")
    _edit(env, "icp_score.toml", "points = 20\n", "points = 70\n")


def _spy_writes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The CRM field values every write entry sends (the CLI runs in this process)."""
    sent: list[dict[str, Any]] = []
    add = Writer.add

    def spy(self: Writer, entry: Any) -> None:
        sent.append(dict(entry.fields))
        add(self, entry)

    monkeypatch.setattr(Writer, "add", spy)
    return sent


# ---------------------------------------------------------------- end to end
@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_undo_puts_back_what_a_bad_rule_edit_replaced_and_holds_it_until_the_rules_change(tmp_path, crm, monkeypatch):
    env = SyncEnv(tmp_path, crm, N)
    try:
        assert env.sync().returncode == 0
        good = env.crm_tags()
        original = {p.name: p.read_text(encoding="utf-8") for p in env.rules.glob("*.toml")}
        _bad_edit(env)
        assert env.sync().returncode == 0
        bad = env.crm_tags()
        moved = {sid for sid in good if good[sid] != bad[sid]}
        assert any(good[s]["segment"] != bad[s]["segment"] for s in moved)
        assert any(good[s]["icp_score"] != bad[s]["icp_score"] for s in moved)
        bad_run = env.runs()[-1].id

        sent = _spy_writes(monkeypatch)
        res = env.sync("--undo", str(bad_run))
        assert res.returncode == 0, res.output
        assert env.crm_tags() == good  # every value the bad run replaced is back
        undo = env.runs()[-1]
        assert (undo.mode, undo.status, undo.counts["changed"], undo.counts["written"]) == (
            "undo",
            "succeeded",
            len(moved),
            len(moved),
        )
        score_field = env.tag_fields["icp_score"]
        scores = [f[score_field] for f in sent if score_field in f]
        assert scores and all(isinstance(v, int) and not isinstance(v, bool) for v in scores)  # numbers, not text
        assert f"undo of run {bad_run}: restored" in res.stdout and "restored values are held" in res.stdout
        text = env.run("status", "--config", str(env.config)).stdout
        assert f"last run #{undo.id} succeeded" in text and "(undo, nothing read)" in text, text

        store = env.store()
        try:
            undone = store.transitions("sandbox", run_ids=[bad_run])
            redone = store.transitions("sandbox", run_ids=[undo.id])
            snaps = store.snapshots("sandbox", [1, undo.id])
        finally:
            store.close()
        assert {(t.account, t.dimension, t.to_value, t.from_value) for t in undone} == {
            (t.account, t.dimension, t.from_value, t.to_value) for t in redone
        }
        assert {t.rule for t in redone} == {f"undo:{bad_run}"}
        assert snaps[undo.id] == snaps[1]  # the undo's count snapshot is the one before the bad run

        # drift counts the undo's moves and ends where the first run was
        out = tmp_path / "drift.json"
        assert env.run("drift", "--config", str(env.config), "--json", str(out)).returncode == 0
        drift = json.loads(out.read_text(encoding="utf-8"))
        assert [r["id"] for r in drift["runs"]][-1] == undo.id
        seg = drift["dimensions"]["segment"]
        assert seg["last"] == seg["first"]
        # every move of the bad run and of its undo, plus run 1's real moves (its initial load is apart)
        assert seg["moves"] == sum(1 for t in undone if t.dimension == "segment") * 2 + sum(
            1 for t in env_transitions_of(env, 1) if t.dimension == "segment" and not is_initial_load(t)
        )

        # history shows the undo's move, with its rule
        account = next(t.account for t in redone if t.dimension == "segment")
        doc = json.loads(env.run("history", "--config", str(env.config), "--account", account, "--json").stdout)
        assert any(c["run"] == undo.id and c["rule"] == f"undo:{bad_run}" for c in doc["changes"])

        # the rules are still the bad ones: the next run holds the restored values and says so
        res = env.sync()
        assert res.returncode == 0, res.output
        assert env.crm_tags() == good
        assert "undo holds" in res.stdout and f"run(s) {bad_run} undone" in res.stdout
        status = json.loads(env.run("status", "--config", str(env.config), "--json").stdout)
        assert status["syncs"]["sandbox"]["undo_holds"]["accounts"] == len(moved)

        # the rules fixed: the holds end and the fixed rules apply (here: the same values)
        for name, text in original.items():
            (env.rules / name).write_text(text, encoding="utf-8")
        res = env.sync()
        assert res.returncode == 0, res.output
        assert "undo holds" not in res.stdout and env.crm_tags() == good
        status = json.loads(env.run("status", "--config", str(env.config), "--json").stdout)
        assert status["syncs"]["sandbox"]["undo_holds"] is None
    finally:
        env.close()


def env_transitions_of(env: SyncEnv, run: int) -> list[Transition]:
    store = env.store()
    try:
        return store.transitions("sandbox", run_ids=[run])
    finally:
        store.close()


def test_a_tag_changed_again_by_a_later_run_is_listed_and_left_unless_forced(tmp_path):
    env = SyncEnv(tmp_path, "hubspot", N)
    try:
        assert env.sync().returncode == 0
        first = env.crm_tags()
        _edit(env, "segment.toml", "employees >= 1000 or", "employees >= 100 or")
        assert env.sync().returncode == 0
        bad_run = env.runs()[-1].id
        # a later edit moves some of those accounts again, to a third value
        _edit(env, "segment.toml", "employees >= 100 or", "employees >= 500 or")
        _edit(env, "segment.toml", '"100 <= employees < 1000', '"300 <= employees < 1000')
        _edit(env, "segment.toml", '"employees < 100 or', '"employees < 300 or')
        assert env.sync().returncode == 0
        later_run = env.runs()[-1].id
        third = env.crm_tags()
        store = env.store()
        try:
            moves = [t for t in store.transitions("sandbox", run_ids=[bad_run]) if t.dimension == "segment"]
            records = store.tag_records("sandbox", [t.account for t in moves])
            now = {r.account: r for r in records if r.dimension == "segment"}
        finally:
            store.close()
        seed = env.seed_of
        again = {
            seed[t.account] for t in moves if now[t.account].run == later_run and now[t.account].value != t.from_value
        }
        untouched = {seed[t.account] for t in moves if now[t.account].run == bad_run}
        assert again and untouched

        # the dry run lists both, writes nothing and records no run
        runs, written = len(env.runs()), env.write_stats()["records_written"]
        res = env.sync("--undo", str(bad_run), "--dry-run")
        assert res.returncode == 0, res.output
        assert "would restore" in res.stdout and f"changed again by run {later_run}" in res.stdout
        assert "nothing was written" in res.stdout
        assert env.crm_tags() == third and len(env.runs()) == runs
        assert env.write_stats()["records_written"] == written

        res = env.sync("--undo", str(bad_run))
        assert res.returncode == 0, res.output
        after = env.crm_tags()
        for sid in untouched:
            assert after[sid]["segment"] == first[sid]["segment"]
        for sid in again:
            assert after[sid]["segment"] == third[sid]["segment"]  # left as the later run set it
            account = env.sb.id_map[sid]
            assert f"{account} segment: now {third[sid]['segment']}" in res.stdout
            assert f"changed again by run {later_run}" in res.stdout

        res = env.sync("--undo", str(bad_run), "--force")
        assert res.returncode == 0, res.output
        after = env.crm_tags()
        assert all(after[sid]["segment"] == first[sid]["segment"] for sid in again | untouched)
        forced = env.runs()[-1]
        assert forced.mode == "undo" and forced.counts["written"] == len(again)
    finally:
        env.close()


def test_undo_refusals_the_change_guard_and_undoing_an_undo(tmp_path):
    env = SyncEnv(tmp_path, "hubspot", 60, extra_config="max_changes = 5\n")
    try:
        assert env.sync("--allow-changes", "1000").returncode == 0
        tagged = env.crm_tags()
        assert env.sync().returncode == 0  # the same rules: changes nothing
        store = env.store()
        try:
            other = store.begin_run("other", "full", None, "fp", "h", "2026-01-01T00:00:00+00:00")
            running = store.begin_run("sandbox", "full", None, "fp", "h", "2026-01-01T00:00:00+00:00")
            assert store.acquire_lease("sandbox", "someone", socket.gethostname(), os.getpid(), 600) is None
        finally:
            store.close()
        written = env.write_stats()["records_written"]
        for run, words in (
            (2, "run 2: it changed no tag"),
            (99, "run 99: no such run"),
            (other, f"run {other}: it is a run of sync 'other'"),
            (running, f"run {running}: it is still running"),
        ):
            res = env.sync("--undo", str(run))
            assert res.returncode == 2, res.output
            assert words in res.stderr, res.stderr
        assert env.write_stats()["records_written"] == written
        assert len(env.runs()) == 3  # no undo run recorded
        store = env.store()
        try:
            store.release_lease("sandbox", "someone")
        finally:
            store.close()
        assert env.sync("--force").returncode == 2

        # the change guard applies to an undo as to any run
        _bad_edit(env)
        assert env.sync("--allow-changes", "1000").returncode == 0
        bad_run, bad = env.runs()[-1].id, env.crm_tags()
        assert bad != tagged
        res = env.sync("--undo", str(bad_run))
        assert res.returncode == 1 and "over max_changes = 5" in res.stdout, res.output
        assert f"--undo {bad_run} --allow-changes" in res.stdout
        assert env.crm_tags() == bad and env.runs()[-1].status == "aborted"
        res = env.sync("--undo", str(bad_run), "--allow-changes", "1000")
        assert res.returncode == 0, res.output
        assert env.crm_tags() == tagged

        # undoing that undo is a run like any other: the bad values come back
        undo = env.runs()[-1].id
        res = env.sync("--undo", str(undo), "--allow-changes", "1000")
        assert res.returncode == 0, res.output
        assert env.crm_tags() == bad

        # no value before: the field is cleared (where the CRM takes the other values it held then)
        res = env.sync("--undo", "1", "--force", "--allow-changes", "1000")
        assert res.returncode in (0, 1), res.output  # legacy values no longer among the options are refused
        store = env.store()
        try:
            refused = set(store.record_errors("sandbox"))
            added = [t for t in store.transitions("sandbox", run_ids=[1]) if t.from_value is None]
        finally:
            store.close()
        now = env.crm_tags()
        cleared = [t for t in added if t.account not in refused]
        assert cleared and all(now[env.seed_of[t.account]][t.dimension] is None for t in cleared)
    finally:
        env.close()


# ---------------------------------------------------------------- pure parts
def _t(account: str, dim: str, frm: str | None, to: str | None, rule: str, run: int) -> Transition:
    return Transition(account, dim, frm, to, rule, run, "2026-01-01T00:00:00+00:00")


def test_plan_undo_restores_untouched_tags_lists_the_rest_and_skips_crm_edits():
    moves = [
        _t("a", "segment", "SMB", "Enterprise", "enterprise", 5),
        _t("b", "segment", "SMB", "Mid", "(crm edit)", 5),  # an edit crmseg recorded: not its change
        _t("b", "segment", "Mid", "Enterprise", "enterprise", 5),
        _t("c", "segment", None, "SMB", "smb", 5),
        _t("d", "segment", "SMB", "Enterprise", "enterprise", 5),
    ]
    records = [
        TagRecord("a", "segment", "Enterprise", "enterprise", 5),
        TagRecord("b", "segment", "Enterprise", "enterprise", 5),
        TagRecord("c", "segment", "Mid", "mid", 7),  # changed again by run 7
        TagRecord("d", "segment", "Enterprise", "enterprise", 5),
    ]
    plan = plan_undo(5, moves, records, pinned={"d"})
    restored = [(r.account, r.now, r.before) for r in plan.restore]
    assert restored == [("a", "Enterprise", "SMB"), ("b", "Enterprise", "Mid")]
    assert [(x.account, x.later_run, x.reason) for x in plan.left] == [
        ("c", 7, "changed again by run 7"),
        ("d", None, "pinned"),
    ]
    forced = plan_undo(5, moves, records, pinned={"d"}, force=True)
    assert ("c", "Mid", None, 7) in [(r.account, r.now, r.before, r.later_run) for r in forced.restore]


def test_restored_scores_are_numbers_and_no_value_clears():
    assert typed_value("42", "score") == 42 and isinstance(typed_value("42", "score"), int)
    assert typed_value("7.5", "score") == 7.5
    assert typed_value("42", "label") == "42"
    assert typed_value(None, "score") is None
    assert undone_run("undo:12") == 12 and undone_run("enterprise") is None
