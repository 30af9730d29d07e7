"""frozen_heap: the collector skips the objects alive at the start, and garbage among them is
still collected once the block ends (a daemon's runs back to back must not pile it up). Only
entry points freeze (the commands, the daemon's run job): library calls leave the heap alone."""

from __future__ import annotations

import gc
import shutil
import weakref
from pathlib import Path

import pytest

from crmseg.audit.plan import plan_source
from crmseg.audit.run import run_audit
from crmseg.heap import frozen_heap

from .cli_run import ROOT, crmseg


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _outside_count() -> int:
    """Objects in the permanent generation outside any block: 0 on 3.11 and 3.13, but 3.12's
    collector moves immortal objects there (375 of them at start-up), so a block must hand back
    exactly what it froze rather than leave zero."""
    gc.collect()
    return gc.get_freeze_count()


def test_garbage_frozen_by_a_block_is_collected_when_it_ends() -> None:
    outside = _outside_count()
    for _ in range(3):  # back to back, as a daemon's runs
        node = _Node()
        alive = weakref.ref(node)
        del node  # garbage now, but frozen with the rest when the block starts
        with frozen_heap():
            assert gc.get_freeze_count() > outside
            gc.collect()
            assert alive() is not None  # frozen: the collector does not look at it
        assert gc.get_freeze_count() == outside
        assert alive() is None  # collected when the block ended


def test_nested_blocks_unfreeze_once_the_outer_one_ends() -> None:
    outside = _outside_count()
    with frozen_heap():
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > outside
    assert gc.get_freeze_count() == outside


def test_a_paused_block_runs_no_collection_and_switches_the_collector_back_as_it_was() -> None:
    assert gc.isenabled()
    with frozen_heap(paused=True):
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with frozen_heap(paused=True):
            pass
        assert not gc.isenabled()  # it was off: left off
    finally:
        gc.enable()


# ---------------------------------------------------------------- who freezes: entry points only
def _freezes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(1) or real())
    return calls


def test_the_library_leaves_the_callers_heap_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _freezes(monkeypatch)
    plan = plan_source(ROOT / "examples" / "accounts.csv", ROOT / "rules", None, "native")
    try:
        assert run_audit(plan).accounts == 400
    finally:
        plan.close()
    assert calls == []


@pytest.mark.parametrize("command", ["audit", "sync"])
def test_the_commands_freeze_the_heap_around_their_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "accounts.csv")
    (tmp_path / "config.toml").write_text(
        '[state]\npath = "state.sqlite"\n[syncs.files]\nconnector = "csv"\npath = "accounts.csv"\n'
        f'mapping = "{ROOT / "connectors" / "csv.toml"}"\nrules = "rules"\nengine = "native"\n',
        encoding="utf-8",
    )
    calls = _freezes(monkeypatch)
    res = crmseg(command, "--config", "config.toml", "-q", cwd=tmp_path)
    assert res.returncode == 0, res.output
    assert calls == [1]
    assert gc.get_freeze_count() == _outside_count()  # handed back
