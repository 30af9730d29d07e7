#!/usr/bin/env python3
"""Sync benchmark: API calls and wall time of ``crmseg sync`` runs against the local sandbox
CRM, compared with the floor of calls and with the naive one-update-call-per-record way.

    python benchmarks/sync_bench.py [--accounts 100000] [--crm salesforce,hubspot,dynamics]
                                    [--db-dir DIR] [--naive-sample 1000] [--days-later 7]

For each CRM, one sandbox (``crmseg.sandbox.SandboxServer``, in a child process, seeded store
cached in ``--db-dir`` exactly as ``crm_bench.py`` caches it) and one sync config written by
``write_sandbox_config`` (what ``crmseg sandbox --write-config`` writes), then these runs of
the real CLI, each in its own process (``crmseg sync --config C --engine native -q``):

1. **full first sync** (state empty): read every account, evaluate, write every changed tag;
2. **no-change incremental sync** right after: reads back the first sync's own writes once
   (Dynamics 365: through the delta link the first sync stored, Dataverse change tracking);
3. **rule edit, local copy**: ``rules/`` copied to a temp folder with one segment threshold
   moved (Enterprise from 1,000 to 450 employees, ~9% of the accounts change); the rules
   fingerprint changed, so every account is re-evaluated from the state's local copy and only
   what changed in the CRM since the last run is read;
4. **rule edit, full read**: the same edit from the same starting point with ``--full``;
5. **N days later** (``--days-later``, default 7; 0 skips it): the shipped rules use
   ``days_since``, so every account is re-evaluated from the local copy with a clock N days
   ahead; nothing is read but what changed. The CLI has no clock option, so this run goes
   through ``crmseg.sync.service.SyncService`` in a child process (the CLI's own code path,
   with ``plan(..., now=now + N days)``).

Runs 3, 4 and 5 start from the same snapshot (sandbox store and sync state) taken after run 2.

Every run's API calls are counted by the sandbox (``/__sandbox/stats``, reset before the run)
and by the run itself (``api_calls`` in the state's run row and in the printed summary); they
must agree and equal the floor: read pages + write calls + fixed calls (login and describe;
HubSpot's property list and account info; Dynamics' token, OpenID metadata, WhoAmI, table
definition and choice metadata), the fixed calls listed apart. The naive baseline is the same run
with one update call per changed record, timed on a sample with the same client and scaled
(marked ``*``). Exit status 1 when a run is above (or below) its floor, the counters
disagree, a fault happened, a run did not succeed or read what it should have; 0 otherwise.
Progress goes to stderr (``[sync-bench] ...``), the report to stdout. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from crm_bench import (  # noqa: E402 - crm_bench is found through the sys.path entry just above
    ROOT,
    RULES,
    SANDBOX_OPTIONS,
    SEED,
    cache_key,
    mapping_path,
    next_value,
    scratch_root,
)

CRMS = ("salesforce", "hubspot", "dynamics")
#: The rule edit: (file in rules/, text, replacement) -- the Enterprise segment's size threshold.
EDIT = ("segment.toml", "employees >= 1000 or", "employees >= 450 or")
EDIT_TEXT = "segment: Enterprise from 1,000 to 450 employees"
#: Vendor figures for the "at the vendor's limits" lines (as in crm_bench.py).
SF_DAILY = 100_000
HS_BURST, HS_WINDOW = 190, 10.0
#: Dataverse service protection: requests per user per window (a $batch is one request).
DV_REQUESTS, DV_WINDOW = 6000, 300.0
#: Sandbox options: crm_bench.py's, and Dataverse's service protection limit out of the way too.
BENCH_SANDBOX_OPTIONS = {**SANDBOX_OPTIONS, "service_limit": 10**9}
#: Sandbox endpoints, by what a sync uses them for.
READ_EP = {
    "salesforce": ("query", "query_more"),
    "hubspot": ("list", "search"),
    "dynamics": ("accounts_query", "accounts_next", "accounts_delta"),
}
# fixed calls per run: login and describe; HubSpot's property list and the portal's identity
# (account-info, checked every run so a state is never applied to another portal); Dynamics'
# Entra ID token (msal reads the tenant's OpenID metadata first), WhoAmI (the organization's
# identity), the account table's definition with its columns (ChangeTrackingEnabled among them)
# and the choice columns' options
FIXED_EP = {
    "salesforce": ("login", "describe"),
    "hubspot": ("properties_list", "account_info"),
    "dynamics": ("openid_configuration", "token", "whoami", "metadata_entity", "metadata_picklists"),
}
#: Endpoints that count as the Salesforce login, whichever flow the config uses (SOAP, OAuth token).
LOGIN_EPS = ("login", "oauth_token")
WRITE_EP = {
    "salesforce": (
        "composite_update",
        "sobject_update",
        "bulk_create",
        "bulk_upload",
        "bulk_state",
        "bulk_status",
        "bulk_results",
        "bulk_delete",
    ),
    "hubspot": ("batch_update", "update"),
    "dynamics": ("batch", "update"),
}
BULK_CALLS_PER_JOB = 4  # create + upload + close (UploadComplete) + one status poll


def log(msg: str) -> None:
    print(f"[sync-bench] {msg}", file=sys.stderr, flush=True)


# ================================================================== children
def serve(
    crm: str,
    accounts: int,
    seed: int,
    cache: Path,
    work: Path,
    source: Path | None,
    config_out: Path | None,
    nagle: bool,
) -> None:
    """Child: seed (or reuse) the cached store, serve a copy of ``source`` (default: the cache),
    optionally write a sync config for it, print one JSON line, wait for EOF on stdin."""
    from crmseg.config import load_mapping
    from crmseg.sandbox import SandboxServer
    from crmseg.sandbox.base import SandboxHandler
    from crmseg.sandbox.cli import write_sandbox_config

    nodelay_set = False
    if not nagle and not getattr(SandboxHandler, "disable_nagle_algorithm", False):
        SandboxHandler.disable_nagle_algorithm = True  # see CRM.md, "Nagle"
        nodelay_set = True
    mapping = load_mapping(mapping_path(crm))
    seeded_s: float | None = None
    if source is None and not cache.is_file():
        part = cache.with_name(cache.name + ".part")
        for p in (part, Path(f"{part}-wal"), Path(f"{part}-shm")):
            p.unlink(missing_ok=True)
        log(f"{crm}: seeding {accounts:,} synthetic accounts into {cache} ...")
        t0 = time.perf_counter()
        with SandboxServer(
            crm,
            accounts=accounts,
            seed=seed,
            mapping=mapping,
            rules_dir=RULES,
            db_path=str(part),
            **BENCH_SANDBOX_OPTIONS,
        ):
            pass  # constructing seeds the store; leaving closes it (WAL checkpointed)
        os.replace(part, cache)
        seeded_s = time.perf_counter() - t0
        log(f"{crm}: seeded in {seeded_s:.1f} s")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source or cache, work)
    t0 = time.perf_counter()
    sb = SandboxServer(crm, mapping=mapping, rules_dir=RULES, db_path=str(work), **BENCH_SANDBOX_OPTIONS).start()
    try:
        tag = mapping.tag_field("segment")
        fd = sb.schema.get(tag)
        if config_out is not None:
            write_sandbox_config(sb, config_out)
        hello = {
            "url": sb.url,
            "env": sb.env(),
            "accounts": sb.store.count(),
            "tag": tag,
            "options": list(fd.options or []) if fd is not None else [],
            # Dynamics keeps a choice column's option value (an integer): label -> value
            "option_values": dict(fd.extra.get("options") or {}) if fd is not None and crm == "dynamics" else {},
            "pin": mapping.pin_field,
            "seeded_s": seeded_s,
            "load_s": time.perf_counter() - t0,
            "cache": str(cache),
            "nodelay_set": nodelay_set,
        }
        print(json.dumps(hello), flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        sb.stop()


def sync_child(config: str, days_later: float) -> int:
    """Child: what ``crmseg sync --config C --engine native -q`` does, with the rules' clock
    ``days_later`` days ahead (the CLI has no clock option). Prints the CLI's run summary."""
    from rich.console import Console

    from crmseg.cli.sync import print_outcome
    from crmseg.config import load_config
    from crmseg.heap import frozen_heap
    from crmseg.sync.service import SyncService

    service = SyncService(load_config(config))
    now = datetime.now(UTC) + timedelta(days=days_later)
    with service.plan(None, engine="native", now=now) as planned:
        planned.refuse_failing_tests()
        with frozen_heap():
            outcome = service.run(planned)
    print_outcome(outcome, Console(soft_wrap=True))
    return outcome.exit_code


# ================================================================== the parent's handles
class Sandbox:
    """A sandbox child that can be stopped and restarted from a snapshot of its store."""

    def __init__(self, crm: str, accounts: int, seed: int, db_dir: Path, scratch: Path, nagle: bool) -> None:
        self.crm, self.accounts, self.seed, self.nagle = crm, accounts, seed, nagle
        db_dir.mkdir(parents=True, exist_ok=True)
        self.cache = db_dir / cache_key(crm, accounts, seed)
        self.work = scratch / f"sync-{crm}.sqlite"
        self.reused = self.cache.is_file()
        self.proc: subprocess.Popen[str] | None = None
        self.hello: dict[str, Any] = {}
        self.first: dict[str, Any] = {}
        self.url = ""
        self.loads: list[float] = []
        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, no proxy

    def start(self, source: Path | None = None, config_out: Path | None = None) -> None:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            self.crm,
            "--accounts",
            str(self.accounts),
            "--seed",
            str(self.seed),
            "--cache",
            str(self.cache),
            "--work",
            str(self.work),
        ]
        cmd += ["--from", str(source)] if source else []
        cmd += ["--config-out", str(config_out)] if config_out else []
        cmd += ["--sandbox-nagle"] if self.nagle else []
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
            raise RuntimeError(f"{self.crm} sandbox did not start (exit status {self.proc.returncode})")
        self.hello = json.loads(line)
        self.first = self.first or self.hello
        self.url = self.hello["url"]
        self.loads.append(self.hello["load_s"])

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.work}{suffix}").unlink(missing_ok=True)

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

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.work}?mode=ro", uri=True)

    def count_modified_since(self, ms: int) -> int:
        """How many records an incremental read from ``ms`` (epoch ms) returns."""
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM records WHERE modified_ms >= ?", (ms,)).fetchone()[0])

    def count_changed_after(self, version: int) -> int:
        """How many rows a Dataverse delta link issued at ``version`` (epoch ms) returns."""
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM records WHERE modified_ms > ?", (version,)).fetchone()[0])

    def count(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def sample(self, n: int) -> list[tuple[str, Any]]:
        """(id, current segment tag) of the first ``n`` unpinned records in id order."""
        tag, pin = self.hello["tag"], self.hello.get("pin")
        labels = {v: k for k, v in (self.hello.get("option_values") or {}).items()}
        out: list[tuple[str, Any]] = []
        with self._db() as db:
            for rid, data in db.execute("SELECT id, data FROM records ORDER BY id"):
                fields = json.loads(data)
                if pin and fields.get(pin) in (True, "true"):
                    continue
                out.append((rid, labels.get(fields.get(tag), fields.get(tag))))
                if len(out) >= n:
                    break
        return out

    def snapshot(self, dest: Path) -> None:
        """Copy the (stopped) sandbox's store to ``dest``."""
        assert self.proc is None, "stop the sandbox before taking a snapshot"
        copy_sqlite(self.work, dest)


def copy_sqlite(src: Path, dest: Path) -> None:
    """A consistent copy of a closed or open SQLite database (online backup)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dest}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(str(src)) as a, sqlite3.connect(str(dest)) as b:
        a.backup(b)
    b.close()
    a.close()


# ================================================================== floors
def delta_version(link: str) -> int:
    """The version (epoch ms) the sandbox's delta link was issued at: ``$deltatoken=<ms>!<date>``."""
    from urllib.parse import parse_qs, urlsplit

    token = parse_qs(urlsplit(link).query).get("$deltatoken", [""])[0]
    return int(token.split("!", 1)[0])


def search_floor(n: int, cap: int, limit: int) -> tuple[int, int]:
    """(calls, queries) for the fewest HubSpot search calls that return ``n`` records, ``limit`` a
    page: one query pages through at most ``cap`` results (whole pages), and the next query starts
    right after the last record read (modification time, then object id), so no record is read
    twice and the calls are ceil(n / limit) when ``limit`` divides ``cap`` (200 and 10,000)."""
    per_query = max(1, cap // limit) * limit
    queries = max(1, math.ceil(n / per_query))
    return max(1, math.ceil(n / limit)), queries


@dataclass
class Sizes:
    """The page and batch sizes the sync uses for one CRM."""

    crm: str
    page_full: int  # records per page of a full read
    page_incr: int  # records per page of an incremental read
    batch: int  # records per write call
    bulk_threshold: int | None = None  # Salesforce: more changes than this go through Bulk API 2.0
    bulk_job: int = 10_000  # records per Bulk API 2.0 job (the sync's Writer)
    search_cap: int = 10_000
    fixed_names: str = ""


def sizes_for(crm: str, config: Path) -> Sizes:
    from crmseg.config import load_config
    from crmseg.sync.writer import BULK_JOB

    sync_cfg = load_config(config).sync(None)
    if crm == "salesforce":
        from crmseg.connectors.salesforce import MAX_COLLECTION

        batch = max(1, min(sync_cfg.batch_size or MAX_COLLECTION, MAX_COLLECTION))
        return Sizes(
            crm,
            sync_cfg.page_size,
            sync_cfg.page_size,
            batch,
            sync_cfg.bulk_threshold,
            BULK_JOB,
            fixed_names="login + describe",
        )
    if crm == "dynamics":
        from crmseg.connectors.dynamics import DEFAULT_BATCH
        from crmseg.connectors.dynamics import MAX_BATCH as DV_MAX_BATCH

        batch = max(1, min(sync_cfg.batch_size or DEFAULT_BATCH, DV_MAX_BATCH))
        return Sizes(
            crm,
            sync_cfg.page_size,
            sync_cfg.page_size,
            batch,
            fixed_names="OpenID metadata + token + WhoAmI + table definition + choice metadata",
        )
    from crmseg.connectors.hubspot import LIST_LIMIT, MAX_BATCH, SEARCH_CAP, SEARCH_LIMIT

    batch = max(1, min(sync_cfg.batch_size or MAX_BATCH, MAX_BATCH))
    return Sizes(
        crm, LIST_LIMIT, SEARCH_LIMIT, batch, None, BULK_JOB, SEARCH_CAP, fixed_names="property list + account info"
    )


def write_floor(sz: Sizes, k: int) -> tuple[int, str]:
    """(calls, how) for writing ``k`` changed accounts the way the sync writes them."""
    if k == 0:
        return 0, "nothing to write"
    if sz.bulk_threshold is not None and k > sz.bulk_threshold:
        jobs = math.ceil(k / sz.bulk_job)
        return BULK_CALLS_PER_JOB * jobs, (
            f"{jobs} Bulk API 2.0 job(s) of <= {sz.bulk_job:,} x {BULK_CALLS_PER_JOB} "
            "(create, upload, close, 1 status poll)"
        )
    unit = {"salesforce": "sObject Collections", "dynamics": "$batch of PATCHes"}.get(sz.crm, "batch/update")
    return math.ceil(k / sz.batch), f"ceil({k:,} / {sz.batch}) {unit}"


# ================================================================== one run
@dataclass
class Row:
    key: str
    label: str
    crm: str
    mode: str = ""  # the run's mode as recorded
    read: int = 0
    evaluated: int = 0
    changed: int = 0
    written: int = 0
    status: str = ""
    exit_code: int = 0
    calls: int = 0  # the sandbox's count
    state_calls: int | None = None  # the run's api_calls as recorded in the state
    summary_calls: int | None = None  # ... and as printed in the run summary
    by_endpoint: dict[str, int] = field(default_factory=dict)
    p: int = 0  # floor: read calls
    w: int = 0  # floor: write calls
    f: int = 0  # floor: fixed calls
    p_how: str = ""
    w_how: str = ""
    wall: float = 0.0  # the CLI process, end to end
    run_s: float | None = None  # the run's own duration (from the summary)
    tag_values_changed: int = 0
    clean: bool = True
    problems: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def floor(self) -> int:
        return self.p + self.w + self.f

    @property
    def agree(self) -> bool:
        return self.calls == self.state_calls == self.summary_calls

    @property
    def ok(self) -> bool:
        return self.calls == self.floor and self.agree and self.clean and not self.problems

    def made(self, kind: str) -> int:
        eps = {"read": READ_EP, "write": WRITE_EP, "fixed": FIXED_EP}[kind][self.crm]
        if kind == "fixed" and "login" in eps:
            eps = (*eps, *LOGIN_EPS)
        return sum(v for k, v in self.by_endpoint.items() if k in eps)


class Bench:
    """The runs of one CRM against one sandbox."""

    def __init__(self, crm: str, sb: Sandbox, home: Path, n: int, cli: list[str]) -> None:
        self.crm, self.sb, self.home, self.n, self.cli = crm, sb, home, n, cli
        self.config = home / "config.toml"
        self.config_edit = home / "config-edit.toml"
        self.rows: list[Row] = []
        self.sizes: Sizes | None = None
        self.state_path: Path | None = None
        self.sync_name = "sandbox"

    # ---------------------------------------------------------------- setup
    def start(self, source: Path | None = None) -> None:
        old = self.sb.url
        self.sb.start(source, config_out=None if self.config.exists() else self.config)
        if old and old != self.sb.url:  # a restarted sandbox listens on a new port
            for cfg in (self.config, self.config_edit):
                if cfg.exists():
                    cfg.write_text(cfg.read_text(encoding="utf-8").replace(old, self.sb.url), encoding="utf-8")

    def prepare(self) -> None:
        """After the first start: the edited rules folder and its config; sizes; state path."""
        from crmseg.config import load_config

        edit_dir = self.home / "rules-edit"
        shutil.copytree(RULES, edit_dir)
        target = edit_dir / EDIT[0]
        text = target.read_text(encoding="utf-8")
        if text.count(EDIT[1]) != 1:
            raise SystemExit(f"{RULES / EDIT[0]}: expected exactly one {EDIT[1]!r} to edit")
        target.write_text(text.replace(EDIT[1], EDIT[2]), encoding="utf-8")
        base = self.config.read_text(encoding="utf-8")
        edited, n = re.subn(r"(?m)^rules = .*$", lambda _: f"rules = {json.dumps(str(edit_dir))}", base)
        if n != 1:
            raise SystemExit(f"{self.config}: no single 'rules = ' line to point at the edited rules")
        self.config_edit.write_text(edited, encoding="utf-8")
        cfg, cfg_edit = load_config(self.config), load_config(self.config_edit)
        if Path(cfg_edit.resolve(cfg_edit.sync(None).rules)).resolve() != edit_dir.resolve():
            raise SystemExit(f"{self.config_edit}: does not point at {edit_dir}")
        self.sync_name = cfg.sync(None).name
        self.state_path = cfg.resolve(cfg.state.path)
        self.sizes = sizes_for(self.crm, self.config)

    # ---------------------------------------------------------------- state
    def _state(self) -> tuple[Any, Any]:
        """(sync state, last run row) from the state file, or (None, None) before the first run."""
        from crmseg.state import open_store

        assert self.state_path is not None
        if not self.state_path.exists():
            return None, None
        store = open_store(self.state_path)
        try:
            return store.sync_state(self.sync_name), store.last_run(self.sync_name)
        finally:
            store.close()

    def save_state(self, dest: Path) -> None:
        assert self.state_path is not None
        copy_sqlite(self.state_path, dest)

    def restore_state(self, src: Path) -> None:
        assert self.state_path is not None
        copy_sqlite(src, self.state_path)

    # ---------------------------------------------------------------- one run
    def run(
        self,
        key: str,
        label: str,
        config: Path,
        full: bool = False,
        days_later: float = 0.0,
        expect_mode: str = "incremental",
    ) -> Row:
        assert self.sizes is not None
        sz, sb, row = self.sizes, self.sb, Row(key, label, self.crm)
        state, _ = self._state()
        first = state is None or state.watermark is None
        tracking = self.crm == "dynamics"  # Dataverse change tracking: a full read until a delta link is stored
        full_read = full or first or (tracking and state.delta_link is None)
        # ---- the floor's read part, from what the CRM holds before the run
        if full_read:
            expected = sb.count()
            row.p = max(1, math.ceil(expected / sz.page_full))
            row.p_how = f"ceil({expected:,} / {sz.page_full:,}) " + {
                "salesforce": "query pages",
                "dynamics": "pages (Prefer: odata.track-changes)",
            }.get(self.crm, "list pages")
        elif tracking:
            version = delta_version(state.delta_link)
            expected = sb.count_changed_after(version)
            row.p = max(1, math.ceil(expected / sz.page_incr))
            row.p_how = (
                f"max(1, ceil({expected:,} / {sz.page_incr:,})) delta link pages (changed since the stored link)"
            )
        else:
            since = datetime.fromisoformat(state.watermark.replace("Z", "+00:00"))
            expected = sb.count_modified_since(int(since.timestamp() * 1000))
            if self.crm == "salesforce":
                row.p = max(1, math.ceil(expected / sz.page_incr))
                row.p_how = f"max(1, ceil({expected:,} / {sz.page_incr:,})) query pages (modified since the watermark)"
            else:
                row.p, queries = search_floor(expected, sz.search_cap, sz.page_incr)
                row.p_how = f"max(1, ceil({expected:,} / {sz.page_incr:,})) search pages (modified since the watermark)"
                if queries > 1:
                    row.p_how += (
                        f" in {queries} queries (the search cap of {sz.search_cap:,} results; each next query "
                        "starts after the last record read, re-reading none)"
                    )
        row.f = len(FIXED_EP[self.crm])
        # ---- the run, in its own process
        if days_later:
            argv = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--sync-child",
                str(config),
                "--days-later",
                f"{days_later:g}",
            ]
            row.note = (
                f"SyncService in a child process with the rules' clock {days_later:g} days ahead "
                "(the CLI has no clock option)"
            )
        else:
            argv = [*self.cli, "sync", "--config", str(config), "--engine", "native", "-q"] + (
                ["--full"] if full else []
            )
        env = {
            **os.environ,
            **sb.hello["env"],
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
        }
        log(f"{self.crm}: {label} ...")
        sb.reset()
        t0 = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=str(self.home))
        row.wall = time.perf_counter() - t0
        st = sb.stats()
        _, last = self._state()
        # ---- what happened
        row.exit_code = proc.returncode
        row.calls = st["calls"]["total"]
        row.by_endpoint = dict(st["calls"]["by_endpoint"])
        row.clean = st["rate_limited"] == 0 and all(s.startswith("2") for s in st["calls"]["by_status"])
        row.tag_values_changed = st["changed_fields"]
        out = proc.stdout
        m = re.search(r"API calls ([\d,]+)", out)
        row.summary_calls = int(m.group(1).replace(",", "")) if m else None
        m = re.search(r"\((?:full|incremental) read[^)]*?, ([\d.]+) s\)", out)
        row.run_s = float(m.group(1)) if m else None
        if last is not None:
            c = last.counts
            row.mode, row.status = last.mode, last.status
            row.read, row.evaluated, row.changed, row.written = c["read"], c["evaluated"], c["changed"], c["written"]
            row.state_calls = c["api_calls"]
            if c["failed"] or c["blocked"]:
                row.problems.append(f"{c['failed']} failed, {c['blocked']} blocked records")
        k = st["records_written"] + st["records_failed"]
        row.w, row.w_how = write_floor(sz, k)
        # ---- checks
        if proc.returncode != 0 or row.status != "succeeded":
            tail = (proc.stderr.strip() or out.strip())[-600:]
            row.problems.append(f"exit status {proc.returncode}, run status {row.status or '?'}: {tail}")
        if row.mode != ("full" if full_read else expect_mode):
            row.problems.append(f"mode {row.mode!r}, expected {'full' if full_read else expect_mode!r}")
        if row.read != expected:
            since_what = "changed since the delta link" if tracking else "modified since the watermark"
            row.problems.append(
                f"read {row.read:,} records, the CRM holds {expected:,} {'in all' if full_read else since_what}"
            )
        if not (row.changed == row.written == st["records_written"]) or st["records_failed"]:
            row.problems.append(
                f"changed {row.changed:,}, written {row.written:,}; the sandbox wrote "
                f"{st['records_written']:,} and refused {st['records_failed']:,}"
            )
        if row.evaluated != self.n:
            row.problems.append(
                f"evaluated {row.evaluated:,} of {self.n:,} accounts (the shipped rules use "
                "days_since, so every run re-evaluates all)"
            )
        fixed = {ep: row.by_endpoint.get(ep, 0) for ep in FIXED_EP[self.crm]}
        if "login" in fixed:
            fixed["login"] = sum(row.by_endpoint.get(ep, 0) for ep in LOGIN_EPS)
        if any(v != 1 for v in fixed.values()):
            row.problems.append(f"fixed calls {fixed}, expected one each")
        known = set(READ_EP[self.crm]) | set(WRITE_EP[self.crm]) | set(FIXED_EP[self.crm]) | set(LOGIN_EPS)
        other = {k: v for k, v in row.by_endpoint.items() if k not in known}
        if other:
            row.problems.append(f"unexpected endpoints {other}")
        log(f"{self.crm}: {label}: {row.calls:,} calls (floor {row.floor:,}), {row.wall:.1f} s")
        self.rows.append(row)
        return row


# ================================================================== naive baseline
def naive_sample(crm: str, sb: Sandbox, config: Path, sample: int) -> dict[str, Any]:
    """Per-record time of a batched write and of one update call per record, through the
    sync's own connector and client (as crm_bench.py times them), on ``sample`` records."""
    from crmseg.config import load_config, load_mapping
    from crmseg.connectors.factory import open_connector
    from crmseg.connectors.retry import RetryPolicy
    from crmseg.model import TagWrite

    cfg = load_config(config)
    sync_cfg = cfg.sync(None)
    mapping = load_mapping(cfg.resolve(sync_cfg.mapping))
    conn = open_connector(sync_cfg, mapping, sb.hello["env"], policy=RetryPolicy())
    tag, options = sb.hello["tag"], sb.hello["options"]
    problems: list[str] = []
    recs = sb.sample(sample)
    conn.schema()  # log in (and describe) before timing, as the sync's mapping check does
    writes = [TagWrite(rid, {tag: next_value(options, cur)}) for rid, cur in recs]
    log(f"{crm}: batched write of {len(writes):,} sample records ...")
    sb.reset()
    t0 = time.perf_counter()
    results = conn.write(writes)
    batched_s = time.perf_counter() - t0
    st = sb.stats()
    batched_calls = st["calls"]["total"]
    if any(not r.ok for r in results) or st["records_written"] != len(writes):
        problems.append(
            f"batched sample: {sum(not r.ok for r in results)} failed, sandbox wrote {st['records_written']}"
        )
    if batched_calls != math.ceil(len(writes) / conn.batch_size):
        problems.append(
            f"batched sample: {batched_calls} calls for {len(writes)} records in batches of {conn.batch_size}"
        )
    naive = [TagWrite(w.id, {tag: next_value(options, w.fields[tag])}) for w in writes]
    if crm == "dynamics":
        from crmseg.connectors.dynamics_values import wire_value

        field = conn.schema()[tag]

        def one(w: TagWrite) -> None:
            conn._request(  # the connector's session and token: one PATCH per record
                "update",
                "PATCH",
                f"{conn.base}/accounts({w.id})",
                json={tag: wire_value(field, w.fields[tag])},
                headers={"Content-Type": "application/json", "If-Match": "*"},
            )

    elif crm == "salesforce":
        sf = conn._client()  # the connector's authenticated simple-salesforce client and session
        sobject = getattr(sf, conn.object)
        sobject.base_url = f"{sf.base_url}sobjects/{conn.object}/"  # as the connector points sf.base_url

        def one(w: TagWrite) -> None:
            status = sobject.update(w.id, dict(w.fields))
            if status != 204:
                raise RuntimeError(f"naive update of {w.id}: HTTP {status}")
    else:
        from hubspot.crm.companies import SimplePublicObjectInput

        basic = conn._api("basic")  # the connector's authenticated hubspot-api-client BasicApi

        def one(w: TagWrite) -> None:
            basic.update(w.id, SimplePublicObjectInput(properties=dict(w.fields)))

    log(f"{crm}: naive write, one update call per record: {len(naive):,} sample records ...")
    sb.reset()
    t0 = time.perf_counter()
    for w in naive:
        one(w)
    naive_s = time.perf_counter() - t0
    st = sb.stats()
    if st["calls"]["total"] != len(naive) or st["records_written"] != len(naive):
        problems.append(
            f"naive sample: the sandbox counted {st['calls']['total']} calls and "
            f"{st['records_written']} records for {len(naive)} updates"
        )
    conn.close()
    return {
        "records": len(writes),
        "batched_s": batched_s,
        "batched_calls": batched_calls,
        "naive_s": naive_s,
        "naive_calls": len(naive),
        "batch": conn.batch_size,
        "problems": problems,
    }


# ================================================================== report
def fmt(v: int) -> str:
    return f"{v:,}"


def _opt(v: int | None) -> str:
    return "?" if v is None else f"{v:,}"


def naive_of(row: Row, nv: dict[str, Any]) -> tuple[int, float]:
    """(calls, wall s*) of the same run done the naive way: same reads and fixed calls, one
    update call per changed record; wall = the run's wall - its writes at the batched sample
    rate + one naive call per record at the naive sample rate."""
    k = row.changed
    calls = row.calls - row.made("write") + k
    per_b = nv["batched_s"] / nv["records"]
    per_n = nv["naive_s"] / nv["records"]
    return calls, max(0.0, row.wall - k * per_b) + k * per_n


def render(bench: Bench, nv: dict[str, Any], n: int) -> tuple[str, bool]:
    crm, rows, sb, sz = bench.crm, bench.rows, bench.sb, bench.sizes
    assert sz is not None
    out: list[str] = []
    cache = "reused" if sb.reused else f"seeded in {sb.first.get('seeded_s') or 0:.1f} s"
    out.append(f"== {crm}: {n:,} accounts ==")
    out.append(
        f"sandbox in a child process, store {Path(sb.first['cache']).name} ({cache}); started "
        f"{len(sb.loads)} times (runs 3-5 start from a snapshot taken after run 2), loaded in "
        + ", ".join(f"{s:.1f}" for s in sb.loads)
        + " s"
    )
    if sb.first.get("nodelay_set"):
        out.append("sandbox sockets: TCP_NODELAY set by the benchmark (see CRM.md, Nagle)")
    if crm == "dynamics":
        out.append(
            f"sync: full read in pages of {sz.page_full:,} asking for change tracking (Prefer: odata.track-changes); "
            f"incremental read: the stored delta link's changes, pages of {sz.page_incr:,}; writes in $batch "
            f"requests of {sz.batch} PATCHes (continue-on-error)"
        )
    elif crm == "salesforce":
        bulk = f"; more than {sz.bulk_threshold:,} changes go through Bulk API 2.0 jobs of {sz.bulk_job:,}"
        out.append(
            f"sync: read pages of {sz.page_full:,}; writes in sObject Collections of {sz.batch}{bulk} "
            f"(the config's default bulk_threshold)"
        )
    else:
        out.append(
            f"sync: full read in list pages of {sz.page_full}; incremental read in search pages of "
            f"{sz.page_incr} (<= {sz.search_cap:,} results a query); writes in batch/update calls of {sz.batch}"
        )
    head = [
        "run",
        "read",
        "evaluated",
        "changed",
        "API calls",
        "floor P+W+F",
        "check",
        "wall s",
        "run s",
        "naive calls",
        "naive wall s",
        "vs naive",
    ]
    table = []
    for r in rows:
        ncalls, nwall = naive_of(r, nv)
        check = "OK" if r.ok else (f"MISMATCH ({r.calls - r.floor:+d})" if r.calls != r.floor else "MISMATCH")
        vs = (
            "-"
            if r.changed == 0 or r.calls == 0
            else (f"{ncalls / r.calls:,.1f}x fewer calls, {nwall / r.wall:.1f}x less time*")
        )
        table.append(
            [
                r.label,
                fmt(r.read),
                fmt(r.evaluated),
                fmt(r.changed),
                fmt(r.calls),
                f"{r.p}+{r.w}+{r.f}",
                check,
                f"{r.wall:.1f}",
                "-" if r.run_s is None else f"{r.run_s:.1f}",
                fmt(ncalls),
                f"{nwall:.1f}*",
                vs,
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table, strict=True)]
    right = {1, 2, 3, 4, 5, 7, 8, 9, 10}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out.append(line(head))
    out += [line(t) for t in table]
    out.append("")
    out.append(
        f"floor P+W+F: P = read calls, W = write calls, F = fixed calls per run ({sz.fixed_names}: every run "
        "is a new process); API calls = the sandbox's /__sandbox/stats count for the run"
    )
    for r in rows:
        eps = ", ".join(f"{k} {v:,}" for k, v in sorted(r.by_endpoint.items())) or "-"
        agree = "agree" if r.agree else "DISAGREE"
        out.append(f"  {r.label}: P {r.p:,} = {r.p_how}; W {r.w:,} = {r.w_how}")
        out.append(
            f"    sandbox {eps} | run api_calls {_opt(r.state_calls)} (state), "
            f"{_opt(r.summary_calls)} (summary) -> {agree}"
            + (f"; {r.tag_values_changed:,} tag values changed" if r.changed else "")
        )
        if r.note:
            out.append(f"    {r.note}")
        if r.calls != r.floor and crm == "salesforce" and r.by_endpoint.get("bulk_create"):
            jobs = r.by_endpoint["bulk_create"]
            extra = r.by_endpoint.get("bulk_status", 0) - jobs
            if extra > 0:
                out.append(
                    f"    Bulk API 2.0: {r.by_endpoint['bulk_status']} status reads for {jobs} jobs (floor: 1 "
                    "poll a job, the sandbox completes a job at its first poll): simple-salesforce's "
                    "update() re-reads each job after wait_for_job saw JobComplete"
                )
    per_b = nv["batched_s"] / nv["records"] * 1000
    per_n = nv["naive_s"] / nv["records"] * 1000
    out.append(
        f"* naive: the same run with one update call per changed record (same reads and fixed calls; calls "
        f"exact). Wall = the run's wall - changed x {per_b:.2f} ms (batched write, per record) + changed x "
        f"{per_n:.2f} ms (one update call), both timed on {nv['records']:,} records with the sync's own "
        f"connector and client ({nv['batched_calls']} batched calls vs {nv['naive_calls']:,} naive calls)"
    )
    if crm == "salesforce" and any(r.by_endpoint.get("bulk_create") for r in rows):
        out.append(
            "  (for runs that wrote through Bulk API 2.0 the batched share is estimated at the sObject "
            "Collections rate)"
        )
    # ---- the rule change, both ways
    by = {r.key: r for r in rows}
    loc, full = by.get("edit_local"), by.get("edit_full")
    if loc and full:
        out.append("")
        out.append(
            f"rule change ({EDIT_TEXT}), two ways from the same state: {loc.changed:,} accounts changed "
            f"({loc.changed / n:.1%} of {n:,}; {loc.tag_values_changed:,} tag values)"
        )
        for r, how in ((loc, "local copy re-evaluation"), (full, "full read (--full)     ")):
            out.append(
                f"  {how}: {r.calls:,} API calls = {r.made('read'):,} read + {r.made('write'):,} write + "
                f"{r.made('fixed')} fixed; {r.read:,} records read; {r.wall:.1f} s"
            )
        saved = full.calls - loc.calls
        out.append(
            f"  the local copy saves {saved:,} calls ({saved / full.calls:.0%} of the full read's) and "
            f"{full.wall - loc.wall:.1f} s; both evaluate all {n:,} accounts and write the same changes"
            + (
                ""
                if loc.changed == full.changed
                else f" ({loc.changed:,} vs {full.changed:,}: days_since moved between the runs)"
            )
        )
    # ---- at the vendor's limits
    if crm == "dynamics":

        def dv_floor_s(n: int) -> float:
            return (max(0, n - 1) // DV_REQUESTS) * DV_WINDOW

        out.append(
            f"at the vendor's limits ({DV_REQUESTS:,} requests / {DV_WINDOW / 60:g} min per user, a $batch one "
            "request; raised in the sandbox): least time each run needs under the number of requests: "
            + ", ".join(
                f"{r.key} {dv_floor_s(r.calls):,.0f} s (naive {dv_floor_s(naive_of(r, nv)[0]):,.0f} s)" for r in rows
            )
            + "; a $batch's execution time counts against the other limit (1,200 s / 5 min), not measured here"
        )
    elif crm == "salesforce":
        out.append(
            "at the vendor's limits: share of a "
            f"{SF_DAILY:,}-call daily org allowance: "
            + ", ".join(f"{r.key} {r.calls / SF_DAILY:.2%} (naive {naive_of(r, nv)[0] / SF_DAILY:.1%})" for r in rows)
        )
    else:

        def floor_s(calls: int) -> float:
            return (max(0, calls - 1) // HS_BURST) * HS_WINDOW

        out.append(
            f"at the vendor's limits ({HS_BURST} calls / {HS_WINDOW:g} s burst; raised in the sandbox): least "
            "time each run needs: "
            + ", ".join(f"{r.key} {floor_s(r.calls):,.0f} s (naive {floor_s(naive_of(r, nv)[0]):,.0f} s)" for r in rows)
        )
    agree = all(r.agree for r in rows)
    clean = all(r.clean for r in rows)
    out.append(
        f"sandbox /__sandbox/stats == run's api_calls (state) == run summary: {'yes' if agree else 'NO'}; "
        f"faults: {'none (0 rate-limited, every answer 2xx)' if clean else 'YES'}"
    )
    problems = [f"{r.label}: {p}" for r in rows for p in r.problems] + [f"naive sample: {p}" for p in nv["problems"]]
    for p in problems:
        out.append(f"PROBLEM: {p}")
    good = all(r.ok for r in rows) and not problems
    out.append(f"{crm}: calls == floor for every run (no faults): {'OK' if good else 'MISMATCH'}")
    return "\n".join(out), good


# ================================================================== main
def cli_command() -> list[str]:
    exe = Path(sys.executable).with_name("crmseg")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "crmseg"]


def bench_crm(crm: str, args: argparse.Namespace, db_dir: Path, scratch: Path, home_root: Path) -> tuple[str, bool]:
    n = args.accounts
    sb = Sandbox(crm, n, args.seed, db_dir, scratch, args.sandbox_nagle)
    home = home_root / crm
    home.mkdir(parents=True)
    bench = Bench(crm, sb, home, n, cli_command())
    snap_store, snap_state = scratch / f"snap-{crm}.sqlite", home / "snap-state.sqlite"
    try:
        bench.start()
        if sb.hello["accounts"] != n:
            raise SystemExit(f"{crm}: the sandbox holds {sb.hello['accounts']:,} accounts, expected {n:,}")
        bench.prepare()
        bench.run("first", "1 full first sync (state empty)", bench.config, expect_mode="full")
        bench.run("nochange", "2 no-change incremental", bench.config)
        sb.stop()
        sb.snapshot(snap_store)
        bench.save_state(snap_state)
        bench.start(snap_store)
        bench.run("edit_local", "3 rule edit: local copy", bench.config_edit)
        sb.stop()
        bench.restore_state(snap_state)
        bench.start(snap_store)
        bench.run("edit_full", "4 rule edit: --full read", bench.config_edit, full=True, expect_mode="full")
        if args.days_later:
            sb.stop()
            bench.restore_state(snap_state)
            bench.start(snap_store)
            bench.run(
                "later", f"5 {args.days_later:g} days later: local copy", bench.config, days_later=args.days_later
            )
        nv = naive_sample(crm, sb, bench.config, min(args.naive_sample, n))
    finally:
        sb.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{snap_store}{suffix}").unlink(missing_ok=True)
    return render(bench, nv, n)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--accounts", type=int, default=100_000, help="accounts in the sandbox (default 100000)")
    p.add_argument("--crm", default=",".join(CRMS), help=f"CRMs to measure (default {','.join(CRMS)})")
    p.add_argument(
        "--db-dir",
        default=None,
        help="folder for the cached seeded sandbox stores, shared with crm_bench.py (default: "
        "crmseg-bench in the temp folder)",
    )
    p.add_argument(
        "--naive-sample",
        type=int,
        default=1000,
        help="records the batched and the naive one-call-per-record writes are timed on (default 1000, at most 10000)",
    )
    p.add_argument(
        "--days-later",
        type=float,
        default=7.0,
        help="run 5: re-evaluate with the clock this many days ahead (default 7; 0 skips the run)",
    )
    p.add_argument(
        "--sandbox-nagle", action="store_true", help="leave Nagle's algorithm on the sandbox's sockets (see CRM.md)"
    )
    p.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    p.add_argument("--serve", choices=CRMS, help=argparse.SUPPRESS)  # child: sandbox
    p.add_argument("--cache", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--from", dest="source", help=argparse.SUPPRESS)
    p.add_argument("--config-out", help=argparse.SUPPRESS)
    p.add_argument("--sync-child", metavar="CONFIG", help=argparse.SUPPRESS)  # child: one run with a moved clock
    args = p.parse_args(argv)
    if args.serve is None and args.sync_child is None:
        args.crms = [c.strip() for c in args.crm.split(",") if c.strip()]
        bad = [c for c in args.crms if c not in CRMS]
        if bad or not args.crms:
            p.error(f"--crm: unknown {', '.join(bad) or 'empty list'} (allowed: {', '.join(CRMS)})")
        if args.accounts < 1:
            p.error("--accounts must be >= 1")
        if not 1 <= args.naive_sample <= 10_000:
            p.error("--naive-sample must be between 1 and 10000 (the Salesforce sample must stay below bulk_threshold)")
        if args.days_later < 0:
            p.error("--days-later must be >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(
            args.serve,
            args.accounts,
            args.seed,
            Path(args.cache),
            Path(args.work),
            Path(args.source) if args.source else None,
            Path(args.config_out) if args.config_out else None,
            args.sandbox_nagle,
        )
        return 0
    sys.path.insert(0, str(ROOT / "src"))
    if args.sync_child:
        return sync_child(args.sync_child, args.days_later)
    db_dir = Path(args.db_dir) if args.db_dir else Path(tempfile.gettempdir()) / "crmseg-bench"
    n = args.accounts
    cli = " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cli_command()))
    print(
        f"crmseg sync benchmark: {n:,} accounts; Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; each run: `{cli} sync --config C --engine native -q` in its own process; "
        f"sync state and configs in {tempfile.gettempdir()}; sandbox store cache {db_dir}; sandbox working copy "
        f"in {scratch_root() or tempfile.gettempdir()}"
    )
    print(f"rule edit for runs 3-4: {EDIT[0]} `{EDIT[1]}` -> `{EDIT[2]}` ({EDIT_TEXT}), in a copy of rules/")
    all_good = True
    with (
        tempfile.TemporaryDirectory(prefix="sync-bench-", dir=scratch_root()) as scratch,
        tempfile.TemporaryDirectory(prefix="sync-bench-home-") as home,
    ):
        for crm in args.crms:
            text, good = bench_crm(crm, args, db_dir, Path(scratch), Path(home))
            print()
            print(text, flush=True)
            all_good &= good
    print()
    print(f"RESULT: calls == floor for every sync run ({', '.join(args.crms)}): {'OK' if all_good else 'MISMATCH'}")
    return 0 if all_good else 1


if __name__ == "__main__":
    sys.exit(main())
