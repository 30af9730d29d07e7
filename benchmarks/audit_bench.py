#!/usr/bin/env python3
"""Audit benchmark: accounts/s and peak RSS per engine, against a hand-written baseline.

    python benchmarks/audit_bench.py [--accounts N] [--engines native,durable] [--out DIR]

1. Writes N generated accounts (scripts/make_sample_accounts.generate) to a CSV, streamed;
   a file of the same N and seed from an earlier run is reused.
2. Times the floor: csv.DictReader alone over the same file, in a fresh subprocess.
3. Runs the real audit (crmseg.audit.plan.plan_source + run_audit in crmseg.heap.frozen_heap, as
   ``crmseg audit`` does; shipped rules, connectors/csv.toml) once per engine, each in a fresh
   subprocess, plus the hand-written if/elif baseline (benchmarks/handwritten.py) in its own
   subprocess; each child prints one JSON line with its wall time and peak RSS.
4. In one more subprocess, checks that hand-written (and durable) tags equal native's on
   the first accounts, and times evaluate() alone on pre-normalized accounts in memory
   (durable also through evaluate_many, its batched path).
5. Prints the tables and the targets. See benchmarks/README.md for what every figure means.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
MAPPING = ROOT / "connectors" / "csv.toml"
HANDWRITTEN = "handwritten"
FLOOR = "floor"
ENGINE_ONLY = "engine-only"
DURABLE_BATCHED = "durable-batched"
MB = 1_000_000  # figures are decimal megabytes

sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "benchmarks")]


# ------------------------------------------------------------------ memory figures
def peak_rss_bytes() -> int:
    """This process's peak RSS: VmHWM from /proc (per address space), else ru_maxrss.

    On Linux ``ru_maxrss`` survives exec: a child started with vfork/fork + exec reports at
    least the parent's peak at spawn time, so VmHWM (reset by exec) is the figure used."""
    hwm = _proc_status("VmHWM")
    if hwm is not None:
        return hwm
    return ru_maxrss_bytes()


def ru_maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # KiB on Linux


def current_rss_bytes() -> int:
    rss = _proc_status("VmRSS")
    if rss is not None:
        return rss
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:  # pragma: no cover
        return ru_maxrss_bytes()


def _proc_status(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# ------------------------------------------------------------------ children
def _plan(file: str, engine: str, now: datetime) -> Any:
    from crmseg.audit.plan import plan_source

    return plan_source(file, RULES, MAPPING, engine, now=now)


def _summary_digest(summary: Any) -> str:
    """A hash of everything the audit reports except run metadata (timings, engine name)."""
    doc = summary.to_json()
    doc.pop("run", None)
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def child_audit(engine: str, file: str, now: datetime) -> dict[str, Any]:
    """One full audit of ``file`` in this (fresh) process: the figures as a dict."""
    t0 = time.perf_counter()
    plan = _plan(file, "native" if engine == HANDWRITTEN else engine, now)
    setup_s = time.perf_counter() - t0
    rss_before = current_rss_bytes()
    t1 = time.perf_counter()
    if engine == HANDWRITTEN:
        import handwritten

        summary = handwritten.audit(plan)
    else:
        from crmseg.audit.run import run_audit
        from crmseg.heap import frozen_heap

        with frozen_heap():  # as the ``crmseg audit`` command runs it
            summary = run_audit(plan)
    wall = time.perf_counter() - t1
    return {
        "engine": engine,
        "accounts": summary.accounts,
        "wall_s": wall,
        "setup_s": setup_s,
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak_rss_bytes(),
        "ru_maxrss_bytes": ru_maxrss_bytes(),
        "summary": _summary_digest(summary),
    }


def child_floor(file: str) -> dict[str, Any]:
    """csv.DictReader over ``file`` and nothing else: the floor a full audit is compared with."""
    import csv

    rss_before = current_rss_bytes()
    t = time.perf_counter()
    n = 0
    with open(file, encoding="utf-8-sig", newline="") as fh:
        for _row in csv.DictReader(fh):
            n += 1
    wall = time.perf_counter() - t
    return {
        "engine": FLOOR,
        "accounts": n,
        "wall_s": wall,
        "setup_s": 0.0,
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak_rss_bytes(),
        "ru_maxrss_bytes": ru_maxrss_bytes(),
        "summary": None,
    }


def _time_loop(evaluate: Callable[[dict[str, Any]], Any], accounts: Sequence[dict[str, Any]], repeat: int) -> float:
    """Best wall time of ``repeat`` passes of ``evaluate`` over ``accounts``."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for acc in accounts:
            evaluate(acc)
        best = min(best, time.perf_counter() - t)
    return best


def child_engine_only(
    file: str, now: datetime, engines: Sequence[str], sample: int, verify: int, repeat: int
) -> dict[str, Any]:
    """Tag equality on the first ``verify`` accounts, then evaluate() rates on ``sample``."""
    from itertools import islice

    import handwritten

    from crmseg.audit.plan import read_records
    from crmseg.rules.engines import make_engine

    plan = _plan(file, "native", now)
    t = time.perf_counter()
    accounts = [plan.normalizer.account(raw) for raw in islice(read_records(plan), max(sample, verify))]
    read_s = time.perf_counter() - t
    native = make_engine("native", plan.rules, now)
    hand = handwritten.HandwrittenEngine(now)
    evaluators: dict[str, Any] = {HANDWRITTEN: hand, "native": native}
    for name in engines:
        if name not in evaluators:
            evaluators[name] = make_engine(name, plan.rules, now)

    checked = accounts[:verify]
    expected = [native.evaluate(acc) for acc in checked]
    mismatches: dict[str, int] = {}
    examples: list[str] = []
    for name, ev in evaluators.items():
        if name == "native":
            continue
        bad = 0
        for acc, want in zip(checked, expected, strict=True):
            got = ev.evaluate(acc)
            if got != want:
                bad += 1
                if len(examples) < 5:
                    diff = {d: (got.get(d), want.get(d)) for d in want if got.get(d) != want.get(d)}
                    examples.append(f"{name} vs native on {acc.get('id')}: {diff}")
        mismatches[name] = bad

    timed = accounts[:sample]
    best = float("inf")
    for _ in range(repeat):  # the I/O + normalization every engine pays on top of evaluate()
        t = time.perf_counter()
        for raw in islice(read_records(plan), sample):
            plan.normalizer.account(raw)
        best = min(best, time.perf_counter() - t)
    read_rate = len(timed) / best if best else 0.0
    rates: dict[str, Any] = {}
    best: dict[str, float] = {}
    for _ in range(repeat):  # passes interleaved: a busy machine slows every evaluator alike
        for name, ev in evaluators.items():
            if name != "durable":
                best[name] = min(best.get(name, float("inf")), _time_loop(ev.evaluate, timed, 1))
    for name, ev in evaluators.items():
        runs = 1 if name == "durable" else repeat  # durable is much slower; one pass is steady
        secs = best[name] if name in best else _time_loop(ev.evaluate, timed, 1)
        rates[name] = {"seconds": secs, "runs": runs, "rate": len(timed) / secs if secs else 0.0}
        if name == "durable":  # its batched path: BATCH accounts per ruleset call
            t = time.perf_counter()
            for _ in ev.evaluate_many(timed):
                pass
            secs = time.perf_counter() - t
            rates[DURABLE_BATCHED] = {"seconds": secs, "runs": 1, "rate": len(timed) / secs if secs else 0.0}
    for ev in evaluators.values():
        ev.close()
    return {
        "engine": ENGINE_ONLY,
        "sample": len(timed),
        "verified": len(checked),
        "first_read_s": read_s,
        "read_normalize_rate": read_rate,
        "mismatches": mismatches,
        "examples": examples,
        "rates": rates,
    }


# ------------------------------------------------------------------ parent
def data_file(out_dir: Path, n: int, seed: int) -> tuple[Path, float | None]:
    """The CSV of ``n`` accounts for ``seed``: (path, generation seconds or None when reused)."""
    import csv

    from make_sample_accounts import COLUMNS, generate

    path = out_dir / f"accounts-{n}-seed{seed}.csv"
    if path.is_file():
        return path, None
    out_dir.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + f".{os.getpid()}.part")  # never reuse a half-written file
    t = time.perf_counter()
    with part.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(generate(n, seed))
    os.replace(part, path)
    return path, time.perf_counter() - t


def run_child(args: list[str], timeout: float | None) -> dict[str, Any]:
    """Run this script as ``--child ...`` in a fresh interpreter and parse its JSON line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit(f"benchmark child {' '.join(args)} printed no JSON line:\n{proc.stdout}\n{proc.stderr}")


def ratio_text(seconds: float, base: float) -> str:
    if base <= 0 or seconds <= 0:
        return "n/a"
    r = seconds / base
    if abs(r - 1) < 0.005:
        return "same as hand-written"
    return f"{r:.2f}x slower than hand-written" if r > 1 else f"{1 / r:.2f}x faster than hand-written"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
        return "  ".join(out).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts to generate and audit (default 100000)")
    parser.add_argument(
        "--engines",
        default="native,durable",
        help="engines to measure, comma-separated (default native,durable; durable is skipped "
        "when not importable; the hand-written baseline always runs)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="folder for the generated CSV (default: crmseg-bench in the temp folder); "
        "an existing file of the same size and seed is reused",
    )
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default 2026)")
    parser.add_argument(
        "--now",
        default=None,
        help="the run's reference time for days_since (default: the generator's reference "
        "date 2026-11-01T00:00:00Z, so results do not depend on the day)",
    )
    parser.add_argument("--sample", type=int, default=20_000, help="accounts for the engine-only rates (default 20000)")
    parser.add_argument(
        "--verify",
        type=int,
        default=5_000,
        help="first accounts on which every evaluator must give native's tags (default 5000)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="engine-only passes, best kept (durable: 1)")
    parser.add_argument(
        "--runs", type=int, default=1, help="full-audit subprocesses per engine, fastest kept (durable: 1; default 1)"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from make_sample_accounts import DEFAULT_SEED, REFERENCE_DATE

    seed = DEFAULT_SEED if args.seed is None else args.seed
    now = (
        datetime.fromisoformat(args.now)
        if args.now
        else datetime(REFERENCE_DATE.year, REFERENCE_DATE.month, REFERENCE_DATE.day)
    )
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    wanted = [e.strip() for e in args.engines.split(",") if e.strip()]

    if args.child:
        if args.child == ENGINE_ONLY:
            result = child_engine_only(args.file, now, wanted, args.sample, args.verify, args.repeat)
        elif args.child == FLOOR:
            result = child_floor(args.file)
        else:
            result = child_audit(args.child, args.file, now)
        print(json.dumps(result))
        return 0

    # The parent never imports crmseg: it stays small, so nothing of it leaks into the children.
    for e in wanted:
        if e not in ("native", "durable"):
            parser.error(f"unknown engine {e!r}; allowed: native, durable")
    engines = ["native", *(e for e in wanted if e != "native")]
    skipped: list[str] = []
    if "durable" in engines:
        probe = subprocess.run([sys.executable, "-c", "import durable_rules_engine"], capture_output=True)
        if probe.returncode != 0:
            engines.remove("durable")
            skipped.append("durable (durable-rules is not importable on this Python)")

    out_dir = Path(args.out) if args.out else Path(tempfile.gettempdir()) / "crmseg-bench"
    n = args.accounts
    path, gen_s = data_file(out_dir, n, seed)
    size_mb = path.stat().st_size / MB

    def say(msg: str) -> None:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)

    full: dict[str, dict[str, Any]] = {}
    # runs interleaved (floor, hand-written, native, floor, ...): a busy machine slows them alike
    order = [
        (i, name)
        for i in range(max(1, args.runs))
        for name in [FLOOR, HANDWRITTEN, *engines]
        if name != "durable" or i == 0
    ]
    for i, name in order:
        say(f"{name}: full audit of {n:,} accounts in a fresh subprocess (run {i + 1}) ...")
        r = run_child(["--child", name, "--file", str(path), "--now", now.isoformat()], None)
        say(f"{name}: {r['wall_s']:.1f} s, peak RSS {r['peak_rss_bytes'] / MB:,.1f} MB")
        if name not in full or r["wall_s"] < full[name]["wall_s"]:
            peak = max(r["peak_rss_bytes"], full.get(name, r)["peak_rss_bytes"])
            full[name] = {**r, "peak_rss_bytes": peak}
        else:
            full[name]["peak_rss_bytes"] = max(full[name]["peak_rss_bytes"], r["peak_rss_bytes"])
    sample = min(args.sample, n)
    verify = min(args.verify, n)
    say(f"engine-only: verifying {verify:,} accounts, timing evaluate() on {sample:,} ...")
    only = run_child(
        [
            "--child",
            ENGINE_ONLY,
            "--file",
            str(path),
            "--now",
            now.isoformat(),
            "--engines",
            ",".join(engines),
            "--sample",
            str(sample),
            "--verify",
            str(verify),
            "--repeat",
            str(args.repeat),
        ],
        None,
    )

    # ---------------------------------------------------------------- report
    lines: list[str] = []
    lines.append(f"crmseg audit benchmark: {n:,} accounts, seed {seed}, now {now.isoformat()}")
    lines.append(
        f"python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; rules {RULES.relative_to(ROOT)}/, mapping {MAPPING.relative_to(ROOT)}"
    )
    if gen_s is None:
        lines.append(f"data: {path} ({size_mb:,.1f} MB), reused from an earlier run")
    else:
        lines.append(
            f"data: {path} ({size_mb:,.1f} MB), generated in {gen_s:.1f} s "
            f"({n / gen_s:,.0f} accounts/s; not part of any figure below)"
        )
    if skipped:
        lines.append("skipped: " + "; ".join(skipped))
    lines.append("")
    runs = f"fastest of {args.runs} runs (durable: 1), " if args.runs > 1 else ""
    lines.append(
        f"full audit: CSV -> normalize -> evaluate -> summary, {runs}one fresh subprocess per run; "
        "floor: csv.DictReader alone over the same file"
    )
    base = full[HANDWRITTEN]["wall_s"]
    floor_s = full[FLOOR]["wall_s"]
    rows = []
    for name, r in full.items():
        rows.append(
            [
                name,
                f"{r['accounts']:,}",
                f"{r['wall_s']:.2f}",
                f"{r['accounts'] / r['wall_s']:,.0f}",
                f"{r['peak_rss_bytes'] / MB:,.1f}",
                f"{r['rss_before_bytes'] / MB:,.1f}",
                f"{r['wall_s'] / floor_s:.2f}x",
                "-" if name == FLOOR else "baseline" if name == HANDWRITTEN else ratio_text(r["wall_s"], base),
            ]
        )
    lines += _table(
        [
            "engine",
            "accounts",
            "wall s",
            "accounts/s",
            "peak RSS MB",
            "start RSS MB",
            "vs floor",
            "time vs hand-written",
        ],
        rows,
        [False, True, True, True, True, True, True, False],
    )
    digests = {r["summary"] for name, r in full.items() if name != FLOOR}
    same = (
        "yes" if len(digests) == 1 else "NO: " + ", ".join(f"{k}={v['summary']}" for k, v in full.items() if k != FLOOR)
    )
    lines.append(f"audit summaries (counts, rule hits, changes, quality, warnings) identical across engines: {same}")
    if "durable" in full:
        lines.append("(the pipeline's run_audit calls evaluate() per account; durable's batched path is timed below)")
    lines.append("")
    lines.append(
        f"engine only: evaluate() on {only['sample']:,} pre-normalized accounts in memory "
        f"(best of {args.repeat}; durable: 1 pass; durable-batched: evaluate_many)"
    )
    hand_s = only["rates"][HANDWRITTEN]["seconds"]
    rows = []
    for name, r in only["rates"].items():
        rows.append(
            [
                name,
                f"{r['rate']:,.0f}",
                f"{1e6 / r['rate']:.1f}" if r["rate"] else "n/a",
                "baseline" if name == HANDWRITTEN else ratio_text(r["seconds"], hand_s),
            ]
        )
    lines += _table(["engine", "accounts/s", "us/account", "time vs hand-written"], rows, [False, True, True, False])
    native_speed = hand_s / only["rates"]["native"]["seconds"]
    rr = only["read_normalize_rate"]
    lines.append(
        f"for scale: reading + normalizing the same accounts (FileConnector.read + Normalizer.account, all mapped "
        f"fields, no evaluation; the audit converts only the fields the rules read): "
        f"{rr:,.0f} accounts/s, {1e6 / rr:.1f} us/account"
        if rr
        else ""
    )
    lines.append("")
    lines.append(f"tag check on the first {only['verified']:,} accounts (value and fired rules of every dimension):")
    for name, bad in only["mismatches"].items():
        lines.append(f"  {name} vs native: {bad} mismatches")
    lines += [f"  e.g. {e}" for e in only["examples"]]
    native_peak = full["native"]["peak_rss_bytes"] / MB
    native_floor = full["native"]["wall_s"] / floor_s
    lines.append("")
    lines.append("targets (issue 9):")
    lines.append(
        f"  native evaluation speed vs hand-written: {native_speed:.2f}x "
        f"({'met' if native_speed >= 0.5 else 'NOT met'}: >= 0.5x)"
    )
    lines.append(
        f"  native full audit vs the csv.DictReader floor: {native_floor:.2f}x "
        f"({'met' if native_floor <= 3 else 'NOT met'}: <= 3x)"
    )
    lines.append(
        f"  native peak RSS: {native_peak:,.1f} MB for {n:,} accounts "
        f"({'under' if native_peak < 500 else 'OVER'} the 500 MB budget)"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
