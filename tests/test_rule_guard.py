"""RuleGuard (the daemon's rule reloads): an edit is loaded once it has settled, a file caught
half-written is neither loaded nor reported, a broken version is reported once and the last
good rules stay in use."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from crmseg.config import load_config
from crmseg.daemon import reload as reload_mod
from crmseg.daemon.reload import RuleGuard

from .sync_env import ROOT

OLD = time.time() - 3600


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setattr(reload_mod, "SETTLE_S", 1.5)  # a loaded machine may stall between a write and the look after it
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "accounts.csv")
    (tmp_path / "config.toml").write_text(
        '[state]\npath = "state.db"\n\n[syncs.files]\nconnector = "csv"\npath = "accounts.csv"\nrules = "rules"\n'
        f'mapping = "{ROOT / "connectors" / "csv.toml"}"\n',
        encoding="utf-8",
    )
    for path in rules.glob("*.toml"):
        os.utime(path, (OLD, OLD))
    cfg = load_config(tmp_path / "config.toml")
    return cfg, cfg.syncs["files"], rules / "tier.toml"


def _events(caplog, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == name]


def _write(path: Path, text: str, age: float | None = None) -> None:
    path.write_text(text, encoding="utf-8")
    if age is not None:
        os.utime(path, (time.time() - age, time.time() - age))


def test_a_half_written_file_is_neither_loaded_nor_reported(setup, caplog):
    cfg, sync, tier = setup
    guard = RuleGuard()
    caplog.set_level(logging.INFO, logger="crmseg.daemon")
    first = guard.current(cfg, sync)
    assert first is not None and len(_events(caplog, "rules_loaded")) == 1
    good_text = tier.read_text()
    _write(tier, "")  # an editor's truncate, caught before its write
    assert guard.current(cfg, sync) is first
    assert _events(caplog, "rules_rejected") == []
    _write(tier, good_text.replace("icp_score >= 70", "icp_score >= 75"))  # the write lands
    assert guard.current(cfg, sync) is first  # still young: the last good rules
    time.sleep(reload_mod.SETTLE_S + 0.1)
    second = guard.current(cfg, sync)
    assert second is not first and second.fingerprint != first.fingerprint
    assert "icp_score >= 75" in str(second.rules)
    assert _events(caplog, "rules_rejected") == []
    assert [("reloaded" in r.getMessage()) for r in _events(caplog, "rules_loaded")] == [False, True]


def test_a_settled_broken_edit_is_reported_once_and_the_good_rules_stay(setup, caplog):
    cfg, sync, tier = setup
    guard = RuleGuard()
    caplog.set_level(logging.INFO, logger="crmseg.daemon")
    first = guard.current(cfg, sync)
    _write(tier, tier.read_text().replace("icp_score >= 70", "icp_scor >= 70"), age=5)
    for _ in range(3):
        assert guard.current(cfg, sync) is first
    rejected = _events(caplog, "rules_rejected")
    assert len(rejected) == 1 and "keeping the rules loaded at" in rejected[0].getMessage()
    problems = [r.getMessage() for r in _events(caplog, "rule_problem")]
    assert problems and any("tier.toml" in p and "icp_scor" in p for p in problems)


def test_a_file_stamped_in_the_future_loads_once_seen_unchanged_for_the_settle_time(setup, caplog):
    cfg, sync, tier = setup
    guard = RuleGuard()
    first = guard.current(cfg, sync)
    _write(tier, tier.read_text().replace("icp_score >= 70", "icp_score >= 80"), age=-600)  # a skewed file server
    assert guard.current(cfg, sync) is first
    time.sleep(reload_mod.SETTLE_S + 0.1)
    assert "icp_score >= 80" in str(guard.current(cfg, sync).rules)


def test_at_start_up_young_files_are_waited_for_not_skipped(setup):
    cfg, sync, tier = setup
    _write(tier, tier.read_text().replace("icp_score >= 70", "icp_score >= 65"))
    started = time.monotonic()
    got = RuleGuard().current(cfg, sync)
    assert got is not None and "icp_score >= 65" in str(got.rules)
    assert time.monotonic() - started >= reload_mod.SETTLE_S * 0.9
