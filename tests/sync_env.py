"""A sandbox CRM (in this process, real HTTP on 127.0.0.1) plus a config, a state file and the
real ``crmseg sync`` CLI (in-process, or a subprocess where it gets killed): what the sync tests drive."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from crmseg.deals.model import Deal
from crmseg.sandbox import SandboxServer
from crmseg.sandbox.cli import write_sandbox_config
from crmseg.state.sqlite import SqliteStore
from crmseg.state.store import SyncState
from crmseg.tags import tag_text

from .cli_run import ROOT, CliResult, crmseg, crmseg_cmd, process_env


def make_static(rules: Path) -> None:
    """The shipped rules without the calendar: ``days_since(f)`` reads a plain number field instead
    (inline tests dropped), so runs minutes apart compute the same tags."""
    for path in rules.glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"days_since\(\w+\)", "intent_score", text.split("[[test]]", 1)[0])
        path.write_text(text, encoding="utf-8")


class SyncEnv:
    """One sandbox CRM with N synthetic accounts, an editable copy of the shipped rules, a config."""

    def __init__(
        self,
        tmp: Path,
        crm: str,
        accounts: int,
        *,
        extra_config: str = "",
        static_rules: bool = True,
        **sandbox_kw: Any,
    ) -> None:
        self.tmp, self.crm = tmp, crm
        tmp.mkdir(parents=True, exist_ok=True)
        self.rules = tmp / "rules"
        if not self.rules.exists():
            shutil.copytree(ROOT / "rules", self.rules)
            if static_rules:
                make_static(self.rules)
        kw: dict[str, Any] = {
            "rate_limit": 1_000_000,
            "search_rate_limit": 1_000_000,
            "timeout_delay": 60.0,
            "default_retry_after": 0.2,
        }
        kw.update(sandbox_kw)
        self.sb = SandboxServer(
            crm, accounts=accounts, mapping=ROOT / "connectors" / f"{crm}.toml", rules_dir=self.rules, **kw
        ).start()
        self.config = write_sandbox_config(self.sb, tmp / "config.toml")
        text = self.config.read_text(encoding="utf-8")
        extra = 'engine = "native"\ntimeout = 10\n' + ("bulk_threshold = 1000000\n" if crm == "salesforce" else "")
        self.config.write_text(text + extra + extra_config, encoding="utf-8")
        self.state_path = tmp / "config-state.sqlite"
        self.tag_fields = dict(self.sb.tag_fields)
        self.seed_of = {v: k for k, v in self.sb.id_map.items()}

    # ------------------------------------------------------------------ the CLI
    def env(self, **extra: str) -> dict[str, str]:
        """The whole environment of a CLI subprocess pointed at this sandbox (no other secrets)."""
        return process_env({**self.sb.env(), **extra})

    def run(self, *args: str) -> CliResult:
        """``crmseg ARGS`` in-process from the env's folder, with the sandbox's variables."""
        return crmseg(*args, cwd=self.tmp, env=self.sb.env())

    def sync(self, *args: str) -> CliResult:
        return self.run("sync", "--config", str(self.config), "-q", *args)

    def sync_deals(self, *args: str) -> str:
        """One ``crmseg sync`` (the CRM's stats reset first) that must succeed; its summary's deals line."""
        self.sb.reset_stats()
        res = self.run("sync", "--config", str(self.config), *args)
        assert res.returncode == 0, res.stdout + res.stderr
        line = next((ln.strip() for ln in res.stdout.splitlines() if ln.strip().startswith("deals:")), None)
        assert line is not None, res.stdout
        return line

    def status_deals(self) -> dict[str, Any]:
        """The deals part of ``crmseg status --json`` for this sync."""
        res = self.run("status", "--config", str(self.config), "--json")
        assert res.returncode == 0, res.stderr
        return dict(json.loads(res.stdout)["syncs"]["sandbox"]["deals"])

    def popen_sync(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*crmseg_cmd(), "sync", "--config", str(self.config), "-q", *args],
            cwd=self.tmp,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def kill_when(self, proc: subprocess.Popen[str], ready: Any, timeout: float = 120) -> None:
        """SIGKILL ``proc`` as soon as ``ready()`` is true (polled), failing if it ends first."""
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise AssertionError(
                    f"sync ended before the kill point (exit {proc.returncode}):\n{proc.stdout.read()}"
                )
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("kill point not reached in time")
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL

    # ------------------------------------------------------------------ the CRM
    def fired(self, kind: str) -> int:
        """How often faults of ``kind`` fired since the last stats reset."""
        return int(self.sb.app.faults.snapshot()["fired"].get(kind, 0))

    def crm_tags(self) -> dict[str, dict[str, str | None]]:
        """seed id -> {dimension: tag text} as the CRM holds them."""
        out = {}
        for rec in self.sb.store.scan():
            out[self.seed_of.get(rec.id, rec.id)] = {d: tag_text(rec.data.get(f)) for d, f in self.tag_fields.items()}
        return out

    def write_stats(self) -> dict[str, Any]:
        return self.sb.stats()

    def calls(self) -> dict[str, int]:
        """CRM calls per endpoint since the last stats reset."""
        return dict(self.sb.stats()["calls"]["by_endpoint"])

    def delete_in_crm(self, ids: list[str]) -> None:
        """Delete the accounts ``ids`` in the CRM now (as a user of the CRM would)."""
        with self.sb.app.lock:
            self.sb.store.set_deleted(ids, True, self.sb.app.write_ms())

    # ------------------------------------------------------------------ the state
    def store(self) -> SqliteStore:
        return SqliteStore(self.state_path)

    def transitions(self) -> Counter[tuple[Any, ...]]:
        """(seed id, dimension, from, to, rule) -> times logged."""
        store = self.store()
        try:
            return Counter(
                (self.seed_of.get(t.account, t.account), t.dimension, t.from_value, t.to_value, t.rule)
                for t in store.transitions("sandbox")
            )
        finally:
            store.close()

    def runs(self) -> list[Any]:
        store = self.store()
        try:
            return store.runs("sandbox")
        finally:
            store.close()

    def sync_state(self) -> SyncState:
        """The sync's stored state (watermarks, delta link)."""
        store = self.store()
        try:
            return store.sync_state("sandbox")
        finally:
            store.close()

    def recorded_tags(self, ids: list[str]) -> dict[str, dict[str, str | None]]:
        """account id -> {dimension: tag} as crmseg last recorded them."""
        store = self.store()
        try:
            return store.recorded_tags("sandbox", ids)
        finally:
            store.close()

    def present(self) -> set[str]:
        """The ids of the accounts in the state's population."""
        store = self.store()
        try:
            return {rid for rid, _ in store.iter_accounts("sandbox")}
        finally:
            store.close()

    def stored_deals(self) -> dict[str, Deal]:
        """deal id -> the deal as the state holds it."""
        store = self.store()
        try:
            return {d.id: d for d in store.iter_deals("sandbox")}
        finally:
            store.close()

    def close(self) -> None:
        self.sb.stop()
