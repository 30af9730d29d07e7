#!/usr/bin/env python3
"""CRM connector benchmark: API calls and wall time of a full read and of batched tag
writes through the real connectors, against the local sandbox CRM, compared with the
lower bound of calls and with the naive one-update-call-per-record way.

    python benchmarks/crm_bench.py [--accounts 100000] [--changes 10000]
                                   [--crm salesforce,hubspot] [--db-dir DIR]

For each CRM:

1. A sandbox (``crmseg.sandbox.SandboxServer``) serving N synthetic accounts runs in a child
   process (so the server does not share the benchmark's interpreter and GIL). The seeded
   SQLite store is cached in ``--db-dir`` (keyed by CRM, N, seed and a hash of the mapping,
   rules and generator sources) and copied to a scratch file for each run, so the cached
   store is never modified. Rate limits and the daily limit are raised so the benchmark
   measures the client; page and batch sizes stay the vendors'.
2. Through ``crmseg.connectors.factory.open_connector`` (the connector the CLI uses), it
   reads all N accounts with the fields the pipeline reads, then writes K segment-tag
   changes in one ``write`` call (Salesforce: sObject Collections; and, reported separately,
   Bulk API 2.0 through the connector's ``write_bulk``, its ``bulk_write`` capability).
3. It counts API calls twice -- the connector's own ``calls`` counter and the sandbox's
   ``/__sandbox/stats`` -- and compares them with the lower bound: ceil(N / page size)
   read pages + ceil(K / batch size) write calls, fixed calls (login, describe) listed apart.
4. It times the naive way with the same authenticated client: one update call per record
   (``sf.Account.update`` / HubSpot ``basic_api.update``), on the first ``--naive-sample``
   changes, scaled to K when the sample is smaller (the output says so).

Progress goes to stderr (``[crm-bench] ...``), the report to stdout. Exit status 1 when a
batched read/write does not make exactly the lower bound of calls, the two counters
disagree, a fault/retry happened or a write failed. See benchmarks/CRM.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
CRMS = ("salesforce", "hubspot")
DIMENSION = "segment"  # the tag the benchmark changes
SEED = 42
#: Sandbox options: limits out of the way (vendor page/batch sizes are not options and stay);
#: Bulk API 2.0 jobs are complete at the first status poll (the server's processing time is
#: not the client's).
SANDBOX_OPTIONS: dict[str, Any] = {
    "daily_limit": 10**9,
    "rate_limit": 10**9,
    "search_rate_limit": 10**9,
    "bulk_polls": 0,
}
#: Vendor defaults, for the "at the vendor's limits" lines.
SF_DAILY = 100_000
HS_BURST, HS_WINDOW = 190, 10.0
#: simple-salesforce splits a Bulk API 2.0 upload into jobs of at most 100 MB - 1 MB.
BULK_JOB_BYTES = 99 * 1024 * 1024


def log(msg: str) -> None:
    print(f"[crm-bench] {msg}", file=sys.stderr, flush=True)


def mapping_path(crm: str) -> Path:
    return ROOT / "connectors" / f"{crm}.toml"


# ================================================================== sandbox (child process)
def cache_key(crm: str, accounts: int, seed: int) -> str:
    """``sandbox-CRM-N-seedS-HASH.sqlite``: HASH covers what decides the seeded records."""
    h = hashlib.sha256()
    src = ROOT / "src" / "crmseg" / "sandbox"
    for path in [
        mapping_path(crm),
        *sorted(RULES.glob("*.toml")),
        ROOT / "scripts" / "make_sample_accounts.py",
        *(src / n for n in ("synthetic.py", "seed.py", "schema.py", "values.py", "store.py")),
        *([src / "dynamics_schema.py"] if crm == "dynamics" else []),  # how Dataverse columns hold values
    ]:
        h.update(path.name.encode())
        h.update(path.read_bytes() if path.is_file() else b"-")
    return f"sandbox-{crm}-{accounts}-seed{seed}-{h.hexdigest()[:10]}.sqlite"


def serve(crm: str, accounts: int, seed: int, cache: Path, work: Path, nagle: bool) -> None:
    """Child: seed (or reuse) the cached store, serve a copy of it, print one JSON line, wait for EOF."""
    from crmseg.config import load_mapping
    from crmseg.sandbox import SandboxServer
    from crmseg.sandbox.base import SandboxHandler

    nodelay_set = False
    if not nagle and not getattr(SandboxHandler, "disable_nagle_algorithm", False):
        # http.server sends a response's headers and body in two writes; with Nagle on, the
        # body waits for the client's delayed ACK (~40 ms) whenever its last segment is small.
        # A real CRM does not stall like that, and the client is what is measured here.
        SandboxHandler.disable_nagle_algorithm = True
        nodelay_set = True
    mapping = load_mapping(mapping_path(crm))
    seeded_s: float | None = None
    if not cache.is_file():
        part = cache.with_name(cache.name + ".part")
        for p in (part, Path(f"{part}-wal"), Path(f"{part}-shm")):
            p.unlink(missing_ok=True)
        log(f"{crm}: seeding {accounts:,} synthetic accounts into {cache} ...")
        t0 = time.perf_counter()
        with SandboxServer(
            crm, accounts=accounts, seed=seed, mapping=mapping, rules_dir=RULES, db_path=str(part), **SANDBOX_OPTIONS
        ):
            pass  # constructing seeds the store; leaving closes it (WAL checkpointed)
        os.replace(part, cache)
        seeded_s = time.perf_counter() - t0
        log(f"{crm}: seeded in {seeded_s:.1f} s")
    shutil.copyfile(cache, work)
    t0 = time.perf_counter()
    sb = SandboxServer(crm, mapping=mapping, rules_dir=RULES, db_path=str(work), **SANDBOX_OPTIONS).start()
    try:
        tag = mapping.tag_field(DIMENSION)
        fd = sb.schema.get(tag)
        hello = {
            "url": sb.url,
            "env": sb.env(),
            "accounts": sb.store.count(),
            "tag": tag,
            "options": list(fd.options or []) if fd is not None else [],
            "seeded_s": seeded_s,
            "load_s": time.perf_counter() - t0,
            "cache": str(cache),
            "nodelay_set": nodelay_set,
        }
        print(json.dumps(hello), flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        sb.stop()


class Sandbox:
    """The parent's handle on a sandbox child: URL, credentials, control endpoints."""

    def __init__(self, crm: str, accounts: int, seed: int, db_dir: Path, scratch: Path, nagle: bool = False) -> None:
        self.crm = crm
        db_dir.mkdir(parents=True, exist_ok=True)
        self.cache = db_dir / cache_key(crm, accounts, seed)
        self.work = scratch / f"work-{crm}.sqlite"
        self.reused = self.cache.is_file()
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            crm,
            "--accounts",
            str(accounts),
            "--seed",
            str(seed),
            "--cache",
            str(self.cache),
            "--work",
            str(self.work),
        ] + (["--sandbox-nagle"] if nagle else [])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
        }
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT)
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.proc.wait(timeout=30)
            raise RuntimeError(f"{crm} sandbox did not start (exit status {self.proc.returncode})")
        self.hello: dict[str, Any] = json.loads(line)
        self.url: str = self.hello["url"]
        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, no proxy

    def _control(self, method: str, path: str) -> Any:
        req = urllib.request.Request(
            f"{self.url}/__sandbox/{path}", method=method, data=b"{}" if method == "POST" else None
        )
        with self._http.open(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "stats")

    def reset(self) -> None:
        self._control("POST", "stats/reset")

    def record(self, rid: str) -> dict[str, Any]:
        return self._control("GET", f"records/{rid}")["fields"]

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            self.work.unlink(missing_ok=True)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.work}{suffix}").unlink(missing_ok=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ================================================================== measurements
@dataclass
class Row:
    """One measured operation."""

    op: str
    records: int
    calls: int  # what the client made (the connector's counter, or the naive loop's)
    server_calls: int  # what the sandbox counted
    lower: int | None  # lower bound of calls for this work (None: not applicable)
    fixed: int = 0  # fixed calls included in ``calls`` and in the bound (login, describe)
    wall: float = 0.0
    checked: bool = True  # whether calls must equal the bound (batched reads/writes)
    client_kinds: dict[str, int] = field(default_factory=dict)
    server_kinds: dict[str, int] = field(default_factory=dict)
    note: str = ""
    extrapolated: bool = False
    statuses_ok: bool = True
    failed: int = 0

    @property
    def bound(self) -> int | None:
        return None if self.lower is None else self.lower + self.fixed

    @property
    def ok(self) -> bool:
        return self.bound is not None and self.calls == self.bound

    @property
    def rate(self) -> float:
        return self.records / self.wall if self.wall > 0 else float("inf")


class CallMeter:
    """Deltas of the connector's counters and the sandbox's stats around one operation."""

    def __init__(self, sb: Sandbox, conn: Any) -> None:
        self.sb, self.conn = sb, conn

    def __enter__(self) -> CallMeter:
        self.sb.reset()
        self.calls0 = self.conn.calls
        self.kinds0 = dict(self.conn.calls_by_kind)
        self.retries0 = self.conn.policy.retries
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.calls = self.conn.calls - self.calls0
        self.kinds = {
            k: v - self.kinds0.get(k, 0) for k, v in self.conn.calls_by_kind.items() if v - self.kinds0.get(k, 0)
        }
        self.retries = self.conn.policy.retries - self.retries0
        st = self.sb.stats()
        self.server_calls = st["calls"]["total"]
        self.server_kinds = st["calls"]["by_endpoint"]
        self.statuses = st["calls"]["by_status"]
        self.rate_limited = st["rate_limited"]
        self.records_written = st["records_written"]
        self.records_failed = st["records_failed"]

    @property
    def clean(self) -> bool:
        """No fault: no retry, no 429, every answer 2xx."""
        return self.retries == 0 and self.rate_limited == 0 and all(s.startswith("2") for s in self.statuses)


def next_value(options: Sequence[str], current: Any) -> str:
    """The option after ``current`` (the first one when ``current`` is not an option): always a change."""
    if current in options:
        return options[(list(options).index(current) + 1) % len(options)]
    return options[0]


def bench_crm(crm: str, sb: Sandbox, n: int, k: int, naive_sample: int, bulk: bool) -> dict[str, Any]:
    from crmseg.audit.plan import dimension_names
    from crmseg.config import HubSpotSync, SalesforceSync, load_mapping
    from crmseg.connectors.factory import open_connector
    from crmseg.connectors.retry import RetryPolicy
    from crmseg.model import TagWrite
    from crmseg.normalize.normalizer import Normalizer

    mapping = load_mapping(mapping_path(crm))
    fields = Normalizer(mapping).read_fields(sorted(dimension_names(RULES)))
    tag, options = sb.hello["tag"], sb.hello["options"]
    if len(options) < 2:
        raise SystemExit(f"{crm}: the sandbox's {tag} field has no picklist options to write")
    env = sb.hello["env"]

    def connector(**cfg: Any) -> Any:
        if crm == "salesforce":
            sync: Any = SalesforceSync(connector="salesforce", instance_url=sb.url, name=f"bench-{crm}", **cfg)
        else:
            sync = HubSpotSync(connector="hubspot", host=sb.url, name=f"bench-{crm}", **cfg)
        return open_connector(sync, mapping, env, policy=RetryPolicy())

    rows: list[Row] = []
    problems: list[str] = []
    conn = connector()
    if crm == "salesforce":
        page, fixed_read, fixed_names = conn.cfg.page_size, None, "login + describe"
    else:
        from crmseg.connectors.hubspot import LIST_LIMIT

        page, fixed_read, fixed_names = LIST_LIMIT, 0, ""
    batch = conn.batch_size

    # ---------------------------------------------------------------- 1. read all accounts
    log(f"{crm}: reading {n:,} accounts ({len(fields)} fields) ...")
    first: dict[str, Any] = {}
    seen: set[str] = set()
    count = 0
    with CallMeter(sb, conn) as m:
        for rec in conn.read(fields):
            count += 1
            seen.add(rec.id)
            if len(first) < k:
                first[rec.id] = rec.fields.get(tag)
    if fixed_read is None:  # Salesforce: one login and one describe, once per connector
        fixed_read = m.kinds.get("auth", 0) + m.kinds.get("describe", 0)
        expected_fixed = 2
        if fixed_read != expected_fixed:
            problems.append(f"read: {fixed_read} fixed calls (expected {expected_fixed}: login + describe)")
            fixed_read = expected_fixed
    if count != n or len(seen) != n:
        problems.append(f"read: {count:,} records ({len(seen):,} distinct), expected {n:,}")
    rows.append(
        Row(
            "read all accounts",
            count,
            m.calls,
            m.server_calls,
            math.ceil(n / page),
            fixed_read,
            m.wall,
            client_kinds=m.kinds,
            server_kinds=m.server_kinds,
            statuses_ok=m.clean,
        )
    )

    current = dict(first)
    order = list(first)

    def plan(ids: Sequence[str]) -> list[TagWrite]:
        return [TagWrite(rid, {tag: next_value(options, current[rid])}) for rid in ids]

    def verify(writes: Sequence[TagWrite], what: str) -> None:
        for w in (writes[0], writes[-1]):
            got = sb.record(w.id).get(tag)
            if got != w.fields[tag]:
                problems.append(f"{what}: record {w.id} holds {got!r}, expected {w.fields[tag]!r}")
        for w in writes:
            current[w.id] = w.fields[tag]

    def batched_write(c: Any, label: str, lower: int, checked: bool = True, note: str = "", bulk: bool = False) -> Row:
        writes = plan(order)
        log(f"{crm}: {label}: {len(writes):,} records ...")
        with CallMeter(sb, c) as mw:
            results = c.capabilities.bulk_write.write_bulk(writes) if bulk else c.write(writes)
        failed = sum(1 for r in results if not r.ok)
        if failed or len(results) != len(writes) or mw.records_failed:
            problems.append(
                f"{label}: {failed} of {len(writes)} records failed "
                f"(first: {next((r.error for r in results if not r.ok), None)})"
            )
        if mw.records_written != len(writes):
            problems.append(f"{label}: the sandbox wrote {mw.records_written:,} records, expected {len(writes):,}")
        verify(writes, label)
        return Row(
            label,
            len(writes),
            mw.calls,
            mw.server_calls,
            lower,
            0,
            mw.wall,
            checked,
            client_kinds=mw.kinds,
            server_kinds=mw.server_kinds,
            statuses_ok=mw.clean,
            failed=failed,
            note=note,
        )

    # ---------------------------------------------------------------- 2. batched write(s)
    label = "write tags: sObject Collections" if crm == "salesforce" else "write tags: batch/update"
    rows.append(batched_write(conn, label, math.ceil(k / batch)))

    if crm == "salesforce" and bulk:
        from crmseg.connectors.salesforce_bulk import bulk_rows

        conn_b = connector()
        conn_b.schema()  # log in and describe before timing (as the pipeline's mapping check does)
        buf = io.StringIO()
        rows_csv = bulk_rows(plan(order))
        w = csv.DictWriter(buf, fieldnames=list(rows_csv[0]))
        w.writeheader()
        w.writerows(rows_csv)
        jobs = max(1, math.ceil(len(buf.getvalue().encode()) / BULK_JOB_BYTES))
        # per job: create + upload + close (UploadComplete) + one status poll; the result
        # downloads are needed only for failed / unprocessed records (none here).
        row = batched_write(
            conn_b,
            "write tags: Bulk API 2.0",
            4 * jobs,
            checked=False,
            bulk=True,
            note=f"{jobs} job(s); includes the connector's bulk_wait={conn_b.bulk_wait:g} s sleep "
            "before the first status poll",
        )
        rows.append(row)
        conn_b.close()

    # ---------------------------------------------------------------- 3. naive: one call per record
    sample = order[: min(k, naive_sample)]
    writes = plan(sample)
    log(f"{crm}: naive write, one update call per record: {len(writes):,} records ...")
    if crm == "salesforce":
        sf = conn._client()  # the connector's authenticated simple-salesforce client and session
        sobject = getattr(sf, conn.object)
        # simple-salesforce builds https:// URLs; point the SFType at the connector's base,
        # exactly as the connector does for ``sf.base_url`` (no library code patched).
        sobject.base_url = f"{sf.base_url}sobjects/{conn.object}/"

        def one(w: TagWrite) -> None:
            status = sobject.update(w.id, dict(w.fields))
            if status != 204:
                raise RuntimeError(f"naive update of {w.id}: HTTP {status}")
    else:
        from hubspot.crm.companies import SimplePublicObjectInput

        basic = conn._api("basic")  # the connector's authenticated hubspot-api-client BasicApi

        def one(w: TagWrite) -> None:
            basic.update(w.id, SimplePublicObjectInput(properties=dict(w.fields)))

    with CallMeter(sb, conn) as mn:
        for w in writes:
            one(w)
    naive_calls = len(writes)  # one call per record, by construction
    if crm == "salesforce" and mn.calls != naive_calls:
        problems.append(f"naive: the connector's session counted {mn.calls} calls, the loop made {naive_calls}")
    if mn.server_calls != naive_calls or not mn.clean:
        problems.append(
            f"naive: the sandbox counted {mn.server_calls} calls for {naive_calls} updates (statuses {mn.statuses})"
        )
    verify(writes, "naive")
    naive = Row(
        "write tags: naive 1 call/record",
        len(writes),
        naive_calls,
        mn.server_calls,
        math.ceil(len(writes) / batch),
        0,
        mn.wall,
        checked=False,
        client_kinds={"connector session": mn.calls} if crm == "salesforce" else {},
        server_kinds=mn.server_kinds,
        statuses_ok=mn.clean,
        note="" if crm == "salesforce" else "connector counter not involved (direct client call)",
    )
    rows.append(naive)
    naive_full = naive
    if len(writes) < k:
        scale = k / len(writes)
        naive_full = Row(
            "write tags: naive, scaled to K",
            k,
            k,
            k,
            math.ceil(k / batch),
            0,
            naive.wall * scale,
            checked=False,
            extrapolated=True,
            note=f"1 call/record; wall = measured {len(writes):,}-record time x {scale:g}",
        )
        rows.append(naive_full)
    conn.close()
    return {
        "crm": crm,
        "rows": rows,
        "naive": naive_full,
        "problems": problems,
        "page": page,
        "batch": batch,
        "fixed_names": fixed_names,
        "fields": len(fields),
        "tag": tag,
    }


# ================================================================== report
def fmt_int(v: int) -> str:
    return f"{v:,}"


def vs_naive(row: Row, naive: Row) -> str:
    if row.op.startswith("write tags: naive"):
        return "baseline" + (" (scaled)" if row.extrapolated else " (measured)")
    if not row.op.startswith("write") or row.records != naive.records:
        return "-"
    calls = naive.calls / row.calls if row.calls else float("inf")
    speed = naive.wall / row.wall if row.wall else float("inf")
    return f"{calls:,.0f}x fewer calls, {speed:.1f}x {'faster' if speed >= 1 else 'slower'}"


def check_label(row: Row) -> str:
    if row.bound is None:
        return "-"
    if row.op.startswith("write tags: naive"):
        return "n/a"  # the naive way makes one call per record by design
    if row.ok:
        return "OK"
    return f"MISMATCH ({row.calls - row.bound:+d})"


def render(result: dict[str, Any], n: int, k: int, sb: Sandbox) -> tuple[str, bool]:
    crm, rows, naive = result["crm"], result["rows"], result["naive"]
    out: list[str] = []
    cache = "reused" if sb.reused else f"seeded in {sb.hello['seeded_s']:.1f} s"
    out.append(f"== {crm}: {n:,} accounts, {k:,} tag changes ({result['tag']}) ==")
    out.append(
        f"sandbox {sb.url} in a child process; store {Path(sb.hello['cache']).name} ({cache}; "
        f"loaded in {sb.hello['load_s']:.1f} s); read page {result['page']:,}, write batch {result['batch']:,}; "
        f"{result['fields']} fields read"
    )
    if sb.hello.get("nodelay_set"):
        out.append(
            "sandbox sockets: TCP_NODELAY set by the benchmark (the sandbox leaves Nagle on: ~40 ms "
            "delayed-ACK stall on responses whose body follows the headers; --sandbox-nagle to see it)"
        )
    head = ["operation", "records", "API calls", "lower bound", "check", "wall s", "records/s", "vs naive"]
    table = []
    for r in rows:
        bound = "-" if r.bound is None else (f"{r.lower:,}+{r.fixed}" if r.fixed else fmt_int(r.bound))
        star = "*" if r.extrapolated else ""
        table.append(
            [
                r.op,
                fmt_int(r.records),
                fmt_int(r.calls) + star,
                bound,
                check_label(r),
                f"{r.wall:.2f}{star}",
                f"{r.rate:,.0f}",
                vs_naive(r, naive),
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table, strict=True)]
    right = {1, 2, 3, 5, 6}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out.append(line(head))
    out += [line(t) for t in table]
    out.append("")
    if result["fixed_names"]:
        out.append(
            f"lower bound 'P+F': P = ceil(records / page or batch size), F = fixed calls ({result['fixed_names']}, "
            "once per connector)"
        )
    for r in rows:
        if r.extrapolated:
            out.append(f"* {r.op}: {r.note}")
            continue
        ck = ", ".join(f"{k} {v:,}" for k, v in sorted(r.client_kinds.items())) or "-"
        sk = ", ".join(f"{k} {v:,}" for k, v in sorted(r.server_kinds.items())) or "-"
        agree = "agree" if r.calls == r.server_calls else "DISAGREE"
        out.append(f"  {r.op}: client {ck} | sandbox {sk} -> {agree}" + (f"; {r.note}" if r.note else ""))
    bulk = next((r for r in rows if "Bulk" in r.op), None)
    if bulk is not None and not bulk.ok:
        downloads = bulk.server_kinds.get("bulk_results", 0)
        why = [
            f"{bulk.server_kinds.get('bulk_status', 0):,} status poll(s): the job was not complete at the first poll"
        ]
        if downloads:
            why.append(
                f"the connector downloaded {downloads} result file(s) (+{downloads}; skipped when no record failed)"
            )
        out.append(
            f"  Bulk API 2.0 bound = create + upload + close + 1 status poll per job; made {bulk.calls}: "
            + ", ".join(why)
        )
    batched = next(r for r in rows if r.op.startswith("write") and r.checked)
    sample = next(r for r in rows if r.op.startswith("write tags: naive") and not r.extrapolated)
    how = (
        f"naive timed on {sample.records:,} records and scaled x{naive.records / sample.records:g}"
        if naive.extrapolated
        else "naive measured on all of them"
    )
    out.append(
        f"batched vs naive, writing {k:,} tags: {batched.calls:,} calls vs {naive.calls:,} calls "
        f"({naive.calls / batched.calls:,.0f}x fewer); {batched.wall:.2f} s vs {naive.wall:.2f} s "
        f"({naive.wall / batched.wall:.1f}x less time; {how})"
    )
    read = rows[0]
    if crm == "salesforce":
        out.append(
            f"at the vendor's limits: of a {SF_DAILY:,}-call daily org allowance, this read takes "
            f"{read.calls / SF_DAILY:.2%}, the batched write {batched.calls / SF_DAILY:.2%}, "
            f"the naive write {naive.calls / SF_DAILY:.2%}"
        )
    else:

        def floor_s(calls: int) -> float:
            return (max(0, calls - 1) // HS_BURST) * HS_WINDOW

        out.append(
            f"at the vendor's limits ({HS_BURST} calls / {HS_WINDOW:g} s burst): the read needs >= "
            f"{floor_s(read.calls):.0f} s, the batched write >= {floor_s(batched.calls):.0f} s, the naive "
            f"write >= {floor_s(naive.calls):.0f} s of rate window (the sandbox's limit was raised)"
        )
    checked = [r for r in rows if r.checked]
    agree = all(r.calls == r.server_calls for r in rows if not r.extrapolated)
    clean = all(r.statuses_ok for r in rows if not r.extrapolated)
    out.append(
        f"connector counter == sandbox /__sandbox/stats: {'yes' if agree else 'NO'}; "
        f"faults: {'none (0 retries, 0 rate-limited, every answer 2xx)' if clean else 'YES'}"
    )
    for p in result["problems"]:
        out.append(f"PROBLEM: {p}")
    good = all(r.ok for r in checked) and agree and clean and not result["problems"]
    names = ", ".join(r.op for r in checked)
    out.append(f"{crm}: calls == lower bound ({names}; no faults): {'OK' if good else 'MISMATCH'}")
    return "\n".join(out), good


# ================================================================== main
def scratch_root() -> str | None:
    """Where the sandbox's working copy goes: tmpfs when there is one, so that the server's
    per-commit fsync (one per naive update call) does not measure the disk; else the temp folder."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--accounts", type=int, default=100_000, help="accounts in the sandbox (default 100000)")
    p.add_argument("--changes", type=int, default=10_000, help="tag changes to write (default 10000)")
    p.add_argument("--crm", default="salesforce,hubspot", help="CRMs to measure (default salesforce,hubspot)")
    p.add_argument(
        "--db-dir",
        default=None,
        help="folder for the cached seeded sandbox stores (default: crmseg-bench in the temp folder)",
    )
    p.add_argument(
        "--naive-sample",
        type=int,
        default=1000,
        help="records the naive one-call-per-record write is timed on; scaled to --changes when smaller (default 1000)",
    )
    p.add_argument("--no-bulk", action="store_true", help="skip the Salesforce Bulk API 2.0 run")
    p.add_argument(
        "--sandbox-nagle",
        action="store_true",
        help="leave Nagle's algorithm on the sandbox's sockets (by default the benchmark sets "
        "TCP_NODELAY there, see CRM.md)",
    )
    p.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    p.add_argument("--serve", choices=CRMS, help=argparse.SUPPRESS)  # child mode
    p.add_argument("--cache", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve is None:
        args.crms = [c.strip() for c in args.crm.split(",") if c.strip()]
        bad = [c for c in args.crms if c not in CRMS]
        if bad or not args.crms:
            p.error(f"--crm: unknown {', '.join(bad) or 'empty list'} (allowed: {', '.join(CRMS)})")
        if args.accounts < 1 or not 1 <= args.changes <= args.accounts:
            p.error("need --accounts >= 1 and 1 <= --changes <= --accounts")
        if args.naive_sample < 1:
            p.error("--naive-sample must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.accounts, args.seed, Path(args.cache), Path(args.work), args.sandbox_nagle)
        return 0
    sys.path.insert(0, str(ROOT / "src"))
    db_dir = Path(args.db_dir) if args.db_dir else Path(tempfile.gettempdir()) / "crmseg-bench"
    n, k = args.accounts, args.changes
    print(
        f"crmseg CRM connector benchmark: {n:,} accounts, {k:,} tag changes; Python "
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"sandbox store cache {db_dir}; working copy in {scratch_root() or tempfile.gettempdir()}"
    )
    all_good = True
    with tempfile.TemporaryDirectory(prefix="crm-bench-", dir=scratch_root()) as scratch:
        for crm in args.crms:
            with Sandbox(crm, n, args.seed, db_dir, Path(scratch), args.sandbox_nagle) as sb:
                if sb.hello["accounts"] != n:
                    raise SystemExit(f"{crm}: the sandbox holds {sb.hello['accounts']:,} accounts, expected {n:,}")
                result = bench_crm(crm, sb, n, k, args.naive_sample, not args.no_bulk)
                text, good = render(result, n, k, sb)
            print()
            print(text, flush=True)
            all_good &= good
    print()
    print(
        f"RESULT: calls == lower bound for every batched read and write ({', '.join(args.crms)}): "
        f"{'OK' if all_good else 'MISMATCH'}"
    )
    return 0 if all_good else 1


if __name__ == "__main__":
    sys.exit(main())
