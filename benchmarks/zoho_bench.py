#!/usr/bin/env python3
"""Zoho CRM sync benchmark: API calls and credits of ``crmseg sync`` runs against the local Zoho
sandbox, against the floor.

    python benchmarks/zoho_bench.py [--accounts 100000] [--seed 42] [--bulk-read-threshold 20000]

One Zoho sandbox (``crmseg.sandbox.SandboxServer``, in this process, seeded with ``--accounts``
synthetic accounts and the shipped rules' picklists) and the config ``write_sandbox_config``
writes for it; then four runs of the real CLI, each in its own process
(``crmseg sync --config C --engine native -q``):

1. **full first sync** (state empty): read every account, evaluate, write every changed tag;
2. **no-change sync** right after: reads back the first sync's own writes once (Zoho bumps
   ``Modified_Time`` on update), writes nothing;
3. **rule edit**: ``rules/`` copied with one segment threshold moved (Enterprise from 1,000 to
   450 employees); every account is re-evaluated from the state's local copy, the read asks only
   for what changed since run 2 (nothing: one 304), and only the accounts whose tag changes are
   written;
4. **full re-read** (``--full``): the population the state holds is past ``bulk_read_threshold``
   (the shipped default, 20,000), so the read is a Bulk Read job (per 200,000 accounts) instead
   of a page walk; nothing is written. The report then sets the full read's calls and credits
   side by side: run 1's page walk against run 4's Bulk Read.

The sandbox counts every call and credit (``/__sandbox/stats``, reset before each run); the run
counts its own calls (``api_calls`` in the state). The floor of a run: one token grant (the
accounts server, no credit), ``settings/fields`` and ``org`` (one credit each), one page per 200
records read (at least one: a 304 when nothing changed) or, through Bulk Read, per job of
200,000 a create (50 credits), one status poll and the download (the sandbox completes a job at
its first poll: against Zoho each further poll adds a call and a credit), in an incremental run
one page of deleted records (a 304 when none; two credits) and one update per 100 records
written; credits: one per call to the CRM but those, and an update one per 10 records. Exit status 1 when a run is
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
BULK_JOB, BULK_CREDITS = 200_000, 50  # records a Bulk Read job exports; credits it costs


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
    bulk: bool = False  # the run's full read went through Bulk Read

    @property
    def calls(self) -> int:
        return int(self.stats["calls"]["total"])

    @property
    def credits(self) -> int:
        return int(self.stats["api_usage"]["used"])

    def read_floor(self) -> tuple[int, int]:
        """(calls, credits) at the least for this run's read of the accounts."""
        if self.bulk:
            jobs = max(1, math.ceil(self.read / BULK_JOB))
            return 3 * jobs, (BULK_CREDITS + 2) * jobs  # a create, one poll and the download a job
        pages = max(1, math.ceil(self.read / PAGE))
        return pages, pages

    def floor(self) -> tuple[int, int]:
        """(calls, credits) at the least for what this run read and wrote."""
        read_calls, read_credits = self.read_floor()
        full, rest = divmod(self.written, BATCH)
        updates = full + (1 if rest else 0)
        update_credits = full * math.ceil(BATCH / RECORDS_PER_CREDIT) + math.ceil(rest / RECORDS_PER_CREDIT)
        deleted = 1 if self.incremental else 0  # no account deleted in these runs: one 304
        calls = 1 + 2 + read_calls + deleted + updates
        return calls, 2 + read_credits + deleted * DELETED_CREDITS + update_credits

    def read_measured(self) -> tuple[int, int]:
        """(calls, credits) the sandbox counted for the read of the accounts alone."""
        by = self.stats["calls"]["by_endpoint"]
        if self.bulk:
            jobs = by.get("bulk_read_create", 0)
            polls = by.get("bulk_read_status", 0)
            downloads = by.get("bulk_read_result", 0)
            return jobs + polls + downloads, BULK_CREDITS * jobs + polls + downloads
        pages = by.get("records_page", 0) + by.get("records_token", 0)
        return pages, pages


def sync(config: Path, env: dict[str, str], cwd: Path, *args: str) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "crmseg", "sync", "--config", str(config), "--engine", "native", "-q", *args],
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
    p.add_argument("--bulk-read-threshold", type=int, help="the sync's bulk_read_threshold (default: the shipped one)")
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
        bulk_polls=0,  # a Bulk Read job is complete at its first status poll (the floor's one poll)
    ).start()
    log(f"sandbox with {args.accounts:,} accounts at {sb.url} ({time.perf_counter() - t0:.1f} s)")
    runs: list[Run] = []
    try:
        config = write_sandbox_config(sb, work / "config.toml")
        if args.bulk_read_threshold is not None:
            with config.open("a", encoding="utf-8") as f:
                f.write(f"bulk_read_threshold = {args.bulk_read_threshold}\n")
        env = {**os.environ, **sb.env()}
        state = work / "config-state.sqlite"

        def measured(name: str, config: Path, *args: str) -> None:
            sb.reset_stats()
            seconds = sync(config, env, work, *args)
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
                    sb.stats()["calls"]["by_endpoint"].get("bulk_read_create", 0) > 0,
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
        measured("full re-read (--full)", config, "--full")
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
    walk, bulk = runs[0], runs[-1]
    if walk.bulk or not bulk.bulk:
        print(f"\n(the full reads did not take one path each: bulk_read_threshold vs {bulk.read:,} accounts)")
        return 1
    print(f"\n## The full read alone: page walk (run 1) vs Bulk Read (run 4), {args.accounts:,} accounts\n")
    print("| read | accounts | calls | floor | credits | floor |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, r in (("page walk, 200 a page", walk), (f"Bulk Read, {BULK_JOB:,} a job", bulk)):
        (calls, credits), (calls_floor, credits_floor) = r.read_measured(), r.read_floor()
        ok = ok and (calls, credits) == (calls_floor, credits_floor)
        print(f"| {label} | {r.read:,} | {calls:,} | {calls_floor:,} | {credits:,} | {credits_floor:,} |")
    job = BULK_CREDITS + 2
    print(
        f"\nA Bulk Read job costs fewer calls than the page walk from {3 * PAGE + 1:,} accounts (3 calls against 4 "
        f"pages or more) and fewer credits from {job * PAGE + 1:,} ({job} credits against one a page of {PAGE}); "
        "each further status poll adds a call and a credit."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
