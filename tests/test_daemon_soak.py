"""Soak: one ``crmseg daemon`` subprocess makes 100+ short runs (a CRM sync and a file sync,
each every second) under seeded faults. Its RSS, sampled from /proc after every run, does
not grow; no two runs of a sync overlap; every run it logged is recorded in the state, with
the same status, and none is left ``running``."""

from __future__ import annotations

import itertools
import shutil
import statistics
import sys
import time
from pathlib import Path

import pytest

from crmseg.state.sqlite import SqliteStore

from .sync_env import ROOT, SyncEnv, make_static

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_hundred_runs_under_faults_keep_memory_flat_and_every_run_recorded(tmp_path, daemon, soak_runs: int):
    env = SyncEnv(tmp_path, "hubspot", 300)
    try:
        files_rules = tmp_path / "file-rules"
        shutil.copytree(ROOT / "rules", files_rules)
        make_static(files_rules)
        shutil.copy(ROOT / "examples" / "accounts.csv", tmp_path / "accounts.csv")
        text = env.config.read_text().replace('interval = "15m"', 'interval = "1s"')
        text = text.replace("[state]\n", '[state]\nlease = "30s"\n')
        text += (
            '\n[syncs.files]\nconnector = "csv"\npath = "accounts.csv"\nrules = "file-rules"\nengine = "native"\n'
            f'mapping = "{ROOT / "connectors" / "csv.toml"}"\ninterval = "1s"\n'
        )
        env.config.write_text(text, encoding="utf-8")
        # about 5% of calls fail (retried with a short Retry-After) and 5% of written records are refused
        env.sb.inject(
            *[{"kind": k, "probability": 0.015, "count": -1} for k in ("429", "500", "503")],
            {"kind": "record_failure", "probability": 0.05, "count": -1, "error": "UNABLE_TO_LOCK_ROW"},
            seed=11,
        )
        d = daemon(env.config, env.env(), env.tmp, metrics=False)
        samples: list[int] = []  # RSS (kB) after each run, in order
        try:
            deadline = time.monotonic() + 600
            while len(samples) < soak_runs:
                assert time.monotonic() < deadline, f"only {len(samples)} runs in 10 minutes"
                ran = len(d.runs())
                if ran > len(samples):
                    rss = _rss_kb(d.proc.pid)
                    samples += [rss] * (ran - len(samples))
                assert d.proc.poll() is None, "".join(d.raw[-30:])
                time.sleep(0.05)
            assert d.stop() == 0
        finally:
            d.kill()
        events = d.runs()
        # memory: after warm-up (caches, first full read, imports of lazily loaded modules) it stays flat
        early, late = statistics.median(samples[20:40]), statistics.median(samples[-20:])
        assert late - early < 4 * 1024, (
            f"RSS grew from {early / 1024:.1f} MB to {late / 1024:.1f} MB over {len(samples)} runs"
        )
        assert max(samples[20:]) - min(samples[20:]) < 8 * 1024, samples
        store = SqliteStore(env.state_path)
        try:
            for sync in ("sandbox", "files"):
                runs = store.runs(sync)
                logged = {e["run_id"]: e["status"] for e in events if e["sync"] == sync}
                recorded = {r.id: r.status for r in runs}
                assert logged and all(recorded.get(i) == s for i, s in logged.items()), (sync, logged, recorded)
                gave_up = [e for e in d.events if e.get("event") == "run_failed" and e.get("sync") == sync]
                assert len(recorded) == len(logged) + len(gave_up), (sync, len(recorded), len(logged), gave_up)
                assert all(r.status != "running" and r.finished_at for r in runs)  # every run finished and recorded
                spans = sorted((r.started_at, r.finished_at) for r in runs)
                for (s1, e1), (s2, _) in itertools.pairwise(spans):
                    assert e1 <= s2, f"{sync}: a run {s1}..{e1} overlaps the next, started {s2}"
            sandbox = [e for e in events if e["sync"] == "sandbox"]
            assert any(e["failed"] for e in sandbox) and any(
                e["written"] for e in sandbox[1:]
            )  # faults hit, retries wrote
        finally:
            store.close()
        fired = env.sb.app.faults.snapshot()["fired"]
        assert fired.get("record_failure", 0) > 0 and sum(fired.get(k, 0) for k in ("429", "500", "503")) > 0, fired
        print("RSS MB every 10 runs:", [round(x / 1024, 1) for x in samples[::10]])
        print(
            f"\nsoak: {len(samples)} runs, RSS {samples[0] / 1024:.1f} -> {early / 1024:.1f} (runs 20-40) -> "
            f"{late / 1024:.1f} MB (last 20); faults fired {dict(fired)}"
        )
    finally:
        env.close()
