"""One sync run does each piece of setup once: the config parsed once, each rule file read once,
the rules compiled once (the inline tests run on that same compiled engine) — through
``crmseg sync`` on a file sync and on a sandbox CRM sync, and in the daemon, where unchanged
rules are neither parsed nor compiled again from one run to the next."""

from __future__ import annotations

import builtins
import gc
import os
import pathlib
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crmseg.audit import plan as planner
from crmseg.daemon import reload
from crmseg.daemon.scheduler import Daemon
from crmseg.rules import loader
from crmseg.rules.engines import codegen
from crmseg.state.sqlite import SqliteStore

from .cli_run import ROOT, crmseg
from .sync_env import SyncEnv

OLD = time.time() - 3600  # rule files older than the daemon's settle time
real_freeze = gc.freeze


@dataclass
class Reads:
    """What one thread opened, parsed and compiled while the spies were on."""

    opened: Counter[Path] = field(default_factory=Counter)
    loads: int = 0  # rule sets loaded (parsed and checked)
    compiles: int = 0  # rule sets compiled into an engine

    def of(self, paths: list[Path]) -> dict[str, int]:
        return {p.name: self.opened[p.resolve()] for p in paths}


@contextmanager
def spying() -> Iterator[Reads]:
    """Counts files opened for reading (``Path.open`` and ``open``), rule set loads and engine compiles made by
    this thread (a sandbox CRM serves from other threads of the process) inside the block."""
    seen = Reads()
    me = threading.get_ident()
    path_open, plain_open = pathlib.Path.open, builtins.open
    real_load, real_generate = loader.load_rules, codegen.generate

    def note(file: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        mode = str(args[0] if args else kwargs.get("mode", "r"))
        if threading.get_ident() == me and isinstance(file, (str, os.PathLike)) and set(mode) <= set("rbt"):
            seen.opened[Path(file).resolve()] += 1

    def spy_path_open(self: pathlib.Path, *args: Any, **kwargs: Any) -> Any:
        note(self, args, kwargs)
        return path_open(self, *args, **kwargs)

    def spy_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        note(file, args, kwargs)
        return plain_open(file, *args, **kwargs)

    def spy_load(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me:
            seen.loads += 1
        return real_load(*args, **kwargs)

    def spy_generate(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me:
            seen.compiles += 1
        return real_generate(*args, **kwargs)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(pathlib.Path, "open", spy_path_open)
        m.setattr(builtins, "open", spy_open)
        m.setattr(loader, "load_rules", spy_load)
        m.setattr(planner, "load_rules", spy_load)  # bound at import by the planner
        m.setattr(codegen, "generate", spy_generate)  # every native engine compiles through it
        yield seen


def _rule_files(rules: Path) -> list[Path]:
    files = sorted(rules.glob("*.toml"))
    assert len(files) == 4 and any("[[test]]" in f.read_text(encoding="utf-8") for f in files)  # inline tests run
    return files


def _file_sync(tmp: Path) -> tuple[Path, Path]:
    shutil.copytree(ROOT / "rules", tmp / "rules")
    shutil.copy(ROOT / "examples" / "accounts.csv", tmp / "accounts.csv")
    config = tmp / "config.toml"
    config.write_text(
        '[state]\npath = "state.sqlite"\n[syncs.files]\nconnector = "csv"\npath = "accounts.csv"\n'
        f'mapping = "{ROOT / "connectors" / "csv.toml"}"\nrules = "rules"\nengine = "native"\ninterval = "1h"\n',
        encoding="utf-8",
    )
    return config, tmp / "rules"


def test_a_file_sync_parses_the_config_reads_each_rule_file_and_compiles_once(tmp_path: Path) -> None:
    config, rules = _file_sync(tmp_path)
    files = _rule_files(rules)
    with spying() as seen:
        res = crmseg("sync", "--config", config, "-q", cwd=tmp_path)
    assert res.returncode == 0, res.output
    assert seen.opened[config.resolve()] == 1
    assert seen.of(files) == dict.fromkeys((f.name for f in files), 1)
    assert (seen.loads, seen.compiles) == (1, 1)
    assert (tmp_path / "files-changes.csv").is_file()  # the changes file's one default: beside the config


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_a_crm_sync_parses_the_config_reads_each_rule_file_and_compiles_once(tmp_path: Path, crm: str) -> None:
    env = SyncEnv(tmp_path, crm, 50, static_rules=False)  # the shipped rules, inline tests included
    try:
        files = _rule_files(env.rules)
        with spying() as seen:  # on for the sync only: the sandbox reads the rules when it starts
            res = env.sync()
        assert res.returncode == 0, res.output
        assert env.runs()[-1].status == "succeeded"
        assert seen.opened[env.config.resolve()] == 1
        assert seen.of(files) == dict.fromkeys((f.name for f in files), 1)
        assert (seen.loads, seen.compiles) == (1, 1)
    finally:
        env.close()


def test_the_daemon_reads_unchanged_rules_once_per_run_and_loads_them_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reload, "SETTLE_S", 1.0)
    config, rules = _file_sync(tmp_path)
    files = _rule_files(rules)
    for path in files:
        os.utime(path, (OLD, OLD))
    with spying() as seen:
        daemon = Daemon(config)
        assert seen.opened[config.resolve()] == 1  # parsed at start; again only on SIGHUP
        for run in (1, 2):
            before = Counter(seen.opened)
            daemon.run_job("files")  # what the scheduler calls
            assert (seen.loads, seen.compiles) == (1, 1), run  # checked and compiled on the first run only
            # each run reads every rule file once: to see whether it changed
            assert {f.name: seen.opened[f.resolve()] - before[f.resolve()] for f in files} == dict.fromkeys(
                (f.name for f in files), 1
            )
    tier = rules / "tier.toml"
    tier.write_text(tier.read_text(encoding="utf-8").replace("icp_score >= 70", "icp_score >= 75"), encoding="utf-8")
    os.utime(tier, (OLD, OLD))  # settled
    freezes: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1) or real_freeze())
    with spying() as seen:
        daemon.run_job("files")
    assert freezes == [1]  # the daemon's run job is an entry point: it freezes the heap around the run
    assert (seen.loads, seen.compiles) == (1, 1)  # the edit: loaded and compiled once more, from that one read
    assert seen.of(files) == dict.fromkeys((f.name for f in files), 1)
    assert seen.opened[config.resolve()] == 0
    store = SqliteStore(tmp_path / "state.sqlite")
    try:
        runs = store.runs("files")
        assert [r.status for r in runs] == ["succeeded"] * 3
        assert runs[0].rules_fingerprint == runs[1].rules_fingerprint != runs[2].rules_fingerprint
    finally:
        store.close()
