#!/usr/bin/env python3
"""Zoho CRM sync benchmark: API calls and credits of ``crmseg sync`` runs against the local Zoho
sandbox, against the floor.

    python benchmarks/zoho_bench.py [--accounts 100000] [--seed 42]

One Zoho sandbox (``crmseg.sandbox.SandboxServer``, in this process, seeded with ``--accounts``
synthetic accounts and the shipped rules' picklists) and the config ``write_sandbox_config``
writes for it; then three runs of the real CLI, each in its own process
(``crmseg sync --config C --engine native -q``):

1. **full first sync** (state empty): read every account, evaluate, write every changed tag;
2. **no-change sync** right after: reads back the first sync's own writes once (Zoho bumps
   ``Modified_Time`` on update), writes nothing;
3. **rule edit**: ``rules/`` copied with one segment threshold moved (Enterprise from 1,000 to
   450 employees); every account is re-evaluated from the state's local copy, the read asks only
   for what changed since run 2 (nothing: one 304), and only the accounts whose tag changes are
   written.

The sandbox counts every call and credit (``/__sandbox/stats``, reset before each run); the run
counts its own calls (``api_calls`` in the state). The floor of a run: one token grant (the
accounts server, no credit), ``settings/fields`` and ``org`` (one credit each), one page per 200
records read (at least one: a 304 when nothing changed), in an incremental run one page of
deleted records (a 304 when none; two credits) and one update per 100 records written;
credits: one per call to the CRM but those, and an update one per 10 records. Exit status 1 when a run is
above (or below) its floor, the counters disagree, or a run did not succeed; 0 otherwise.
Progress goes to stderr (``[zoho-bench] ...``), the report to stdout.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EDIT = ("segment.toml", "employees >= 1000 or", "employees >= 450 or")
PAGE, BATCH, RECORDS_PER_CREDIT, DELETED_CREDITS = 200, 100, 10, 2


def log(msg: str) -> None:
    print(f"[zoho-bench] {msg}", file=sys.stderr, flush=True)


@dataclass
class Run:
    name: str
    seconds: float
    read: int
    written: int
    counted: int  # api_calls the run recorded
    stats: dict[str, Any]
    incremental: bool  # the run read the changes, then the deleted records

    @property
    def calls(self) -> int:
        return int(self.stats["calls"]["total"])

    @property
    def credits(self) -> int:
        return int(self.stats["api_usage"]["used"])

    def floor(self) -> tuple[int, int]:
        """(calls, credits) at the least for what this run read and wrote."""
        pages = max(1, math.ceil(self.read / PAGE))
        full, rest = divmod(self.written, BATCH)
        updates = full + (1 if rest else 0)
        update_credits = full * math.ceil(BATCH / RECORDS_PER_CREDIT) + math.ceil(rest / RECORDS_PER_CREDIT)
        deleted = 1 if self.incremental else 0  # no account deleted in these runs: one 304
        return 1 + 2 + pages + deleted + updates, 2 + pages + deleted * DELETED_CREDITS + update_credits


def sync(config: Path, env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "crmseg", "sync", "--config", str(config), "--engine", "native", "-q"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"sync failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return seconds


def last_run(state: Path) -> Any:
    from crmseg.state.sqlite import SqliteStore

    store = SqliteStore(state)
    try:
        return store.runs("sandbox")[-1]
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--accounts", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    from crmseg.sandbox import SandboxServer, write_sandbox_config

    work = Path(tempfile.mkdtemp(prefix="zoho-bench-"))
    rules = work / "rules"
    shutil.copytree(ROOT / "rules", rules)
    t0 = time.perf_counter()
    sb = SandboxServer(
        "zoho",
        accounts=args.accounts,
        seed=args.seed,
        mapping=ROOT / "connectors" / "zoho.toml",
        rules_dir=rules,
        daily_limit=10_000_000,  # credits are counted, not the limit under test
    ).start()
    log(f"sandbox with {args.accounts:,} accounts at {sb.url} ({time.perf_counter() - t0:.1f} s)")
    runs: list[Run] = []
    try:
        config = write_sandbox_config(sb, work / "config.toml")
        env = {**os.environ, **sb.env()}
        state = work / "config-state.sqlite"

        def measured(name: str, config: Path) -> None:
            sb.reset_stats()
            seconds = sync(config, env, work)
            run = last_run(state)
            if run.status != "succeeded":
                raise SystemExit(f"{name}: run {run.id} {run.status}: {run.message}")
            counts = run.counts
            runs.append(
                Run(
                    name,
                    seconds,
                    counts["read"],
                    counts["written"],
                    counts["api_calls"],
                    sb.stats(),
                    run.mode == "incremental",
                )
            )
            log(f"{name}: {runs[-1].calls} calls, {runs[-1].credits} credits, {seconds:.1f} s")

        measured("full first sync", config)
        measured("no-change sync", config)
        edited = work / "rules-edited"
        shutil.copytree(rules, edited)
        path = edited / EDIT[0]
        text = path.read_text(encoding="utf-8")
        assert EDIT[1] in text, f"{EDIT[0]} no longer holds {EDIT[1]!r}"
        path.write_text(text.replace(EDIT[1], EDIT[2]), encoding="utf-8")
        text = config.read_text(encoding="utf-8").replace('rules = "rules"', f'rules = "{edited}"')
        config.write_text(text, encoding="utf-8")
        measured("rule edit (Enterprise 1,000 -> 450 employees)", config)
    finally:
        sb.stop()
        shutil.rmtree(work, ignore_errors=True)
    ok = True
    print(f"# Zoho CRM sync: {args.accounts:,} accounts ({platform.python_version()}, {os.cpu_count()} cores)\n")
    print("| run | read | written | calls (sandbox) | calls (crmseg) | floor | credits | floor | wall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        calls_floor, credits_floor = r.floor()
        good = r.calls == r.counted == calls_floor and r.credits == credits_floor
        ok = ok and good
        print(
            f"| {r.name} | {r.read:,} | {r.written:,} | {r.calls:,} | {r.counted:,} | {calls_floor:,} | "
            f"{r.credits:,} | {credits_floor:,} | {r.seconds:.1f} s |" + ("" if good else " **off the floor**")
        )
        by = ", ".join(f"{k} {v:,}" for k, v in r.stats["calls"]["by_endpoint"].items())
        print(f"|  | calls: {by} |  |  |  |  |  |  |  |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
