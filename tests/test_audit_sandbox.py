"""Issue 3 acceptance, end to end over real processes and real HTTP:

`crmseg audit --config` against each sandbox seeded with the same accounts gives the same
assignments as the CSV audit of those accounts — and sends the sandbox no write call.

For each CRM: ``crmseg sandbox --crm X --port 0 --seed examples/accounts.csv --rules rules
--write-config T/config.toml`` runs as a subprocess; the ``export`` lines it prints are the
audit's environment; ``crmseg audit --config T/config.toml --csv --json`` runs as another
subprocess; the CRM ids in its CSV map back to the seed ids through ``GET /__sandbox/ids``.
The sandbox is then stopped with SIGTERM and must exit 0. The README's "Try it against a
local Salesforce or HubSpot" snippet is run the same way.
"""

from __future__ import annotations

import csv
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from .cli_run import SECRET_VARS, crmseg_cmd

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "examples" / "accounts.csv"
RULES = ROOT / "rules"
STARTUP_S = 20.0
RUN_S = 40.0


pytestmark = pytest.mark.skipif(
    not (SEED.is_file() and RULES.is_dir() and (ROOT / "connectors").is_dir()),
    reason="needs the checkout's examples/, rules/ and connectors/",
)


def _env(**extra: str) -> dict[str, str]:
    """The test's environment without CRM credentials (only what the sandbox prints may supply them)."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", **extra)
    return env


@dataclass
class Sandbox:
    """A ``crmseg sandbox`` subprocess, its startup banner and the variables it says to export."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""
    exports: dict[str, str] = field(default_factory=dict)
    _q: queue.Queue[str | None] = field(default_factory=queue.Queue)

    @classmethod
    def start(cls, args: list[str], cwd: Path) -> Sandbox:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        sb = cls(proc)
        threading.Thread(target=sb._pump, daemon=True).start()
        deadline = time.monotonic() + STARTUP_S
        while not any("Press Ctrl+C" in line for line in sb.lines):
            try:
                line = sb._q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                sb.kill()
                raise AssertionError(f"sandbox not up after {STARTUP_S:.0f}s: {''.join(sb.lines)}") from None
            if line is None:
                sb.proc.wait(timeout=5)
                raise AssertionError(f"sandbox exited {sb.proc.returncode} at startup: {''.join(sb.lines)}")
            sb.lines.append(line)
        banner = "".join(sb.lines)
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
        assert found, banner
        sb.url = found.group(1)
        sb.exports = dict(re.findall(r"^export (\w+)=(\S+)$", banner, re.M))
        assert sb.exports, f"no export lines in: {banner}"
        sb.wait_healthy()
        return sb

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line)
        self._q.put(None)

    def get(self, path: str) -> Any:
        with requests.Session() as s:
            s.trust_env = False  # loopback only, never through a proxy
            resp = s.get(f"{self.url}{path}", timeout=10)
            resp.raise_for_status()
            return resp.json()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                if self.get("/__sandbox/health")["ok"]:
                    return
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then the exit code and everything printed after the banner."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("sandbox ignored SIGTERM for 15 s") from None
        rest = []
        while True:
            try:
                line = self._q.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            rest.append(line)
        return code, "".join(rest)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_S)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


@dataclass
class CrmRun:
    crm: str
    rows: dict[str, dict[str, str]]  # seed id -> the CRM audit's CSV row (its id mapped back)
    summary: dict[str, Any]
    stats_before: dict[str, Any]
    stats_after: dict[str, Any]
    exit_code: int
    tail: str
    unmapped: list[str]
    outputs: str  # everything the audit printed and wrote
    secrets: list[str]


@pytest.fixture(scope="module")
def file_audit(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    out = tmp_path_factory.mktemp("file")
    _run(
        [
            *crmseg_cmd(),
            "audit",
            "--source",
            str(SEED),
            "--rules",
            str(RULES),
            "--csv",
            str(out / "file.csv"),
            "--json",
            str(out / "file.json"),
            "-q",
        ],
        ROOT,
        _env(),
    )
    return _rows(out / "file.csv"), json.loads((out / "file.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=["salesforce", "hubspot"])
def crm_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CrmRun:
    crm = request.param
    t = tmp_path_factory.mktemp(crm)
    sb = Sandbox.start(
        [
            *crmseg_cmd(),
            "sandbox",
            "--crm",
            crm,
            "--port",
            "0",
            "--seed",
            "examples/accounts.csv",
            "--rules",
            "rules",
            "--write-config",
            str(t / "config.toml"),
        ],
        ROOT,
    )
    try:
        before = sb.get("/__sandbox/stats")
        done = _run(
            [
                *crmseg_cmd(),
                "audit",
                "--config",
                str(t / "config.toml"),
                "--csv",
                str(t / "crm.csv"),
                "--json",
                str(t / "crm.json"),
                "--html",
                str(t / "crm.html"),
            ],
            ROOT,
            _env(**sb.exports),
        )
        after = sb.get("/__sandbox/stats")
        to_seed = {crm_id: seed_id for seed_id, crm_id in sb.get("/__sandbox/ids")["id_map"].items()}
    except BaseException:
        sb.kill()
        raise
    code, tail = sb.stop()
    raw = _rows(t / "crm.csv")
    rows = {to_seed[i]: {**row, "id": to_seed[i]} for i, row in raw.items() if i in to_seed}
    outputs = "\n".join(
        [
            done.stdout,
            done.stderr,
            *((t / f).read_text(encoding="utf-8") for f in ("crm.json", "crm.csv", "crm.html", "config.toml")),
        ]
    )
    secrets = [v for v in sb.exports.values() if len(v) >= 10]
    return CrmRun(
        crm,
        rows,
        json.loads((t / "crm.json").read_text(encoding="utf-8")),
        before,
        after,
        code,
        tail,
        sorted(set(raw) - set(to_seed)),
        outputs,
        secrets,
    )


def _dimensions(rows: dict[str, dict[str, str]]) -> list[str]:
    header = next(iter(rows.values()))
    return [k for k in header if k != "id" and not k.endswith(("_rule", "_current"))]


# ------------------------------------------------------------------ the acceptance checks
def test_audit_reads_every_seeded_account_with_its_current_tags(crm_run, file_audit):
    file_rows, file_summary = file_audit
    assert crm_run.unmapped == [], "CRM ids the sandbox's id_map does not know"
    assert len(crm_run.rows) == len(file_rows) == crm_run.summary["accounts"] == file_summary["accounts"] == 400
    assert set(crm_run.rows) == set(file_rows)
    dims = _dimensions(file_rows)
    assert dims == _dimensions(crm_run.rows) and {"segment", "tier", "stage", "icp_score"} <= set(dims)
    stale = [(i, d) for i in file_rows for d in dims if crm_run.rows[i][f"{d}_current"] != file_rows[i][f"{d}_current"]]
    assert stale == [], "the CRM holds other current tags than the seed file"
    assert crm_run.summary["pinned"]["accounts"] == file_summary["pinned"]["accounts"] > 0


def test_audit_sends_no_write_call(crm_run):
    before, after = crm_run.stats_before, crm_run.stats_after
    reads = {"salesforce": ("query", "query_more"), "hubspot": ("list", "search")}[crm_run.crm]
    by = after["calls"]["by_endpoint"]
    assert sum(by.get(e, 0) for e in reads) > 0, by  # the audit did read through the API
    assert after["write_endpoints"] == {"total": 0, "by_endpoint": {}}, by
    assert after["write_calls"] == after["records_written"] == after["records_failed"] == 0
    assert before["calls"]["total"] == 0 and after["rate_limited"] == 0
    assert set(after["calls"]["by_status"]) == {"200"}, after["calls"]["by_status"]


def test_run_summary_shows_api_calls_and_salesforce_limit_usage(crm_run):
    run = crm_run.summary["run"]
    reads = {
        "salesforce": ("login", "oauth_token", "describe", "query", "query_more"),
        "hubspot": ("list", "properties_list"),
    }
    by = crm_run.stats_after["calls"]["by_endpoint"]
    assert run["api_calls"] == sum(by.get(e, 0) for e in reads[crm_run.crm]) > 0, (run, by)
    if crm_run.crm == "salesforce":  # from the Sforce-Limit-Info header of the last answer
        assert re.fullmatch(r"[\d,]+/[\d,]+ \([\d.]+%\)", run["api_usage"]), run
    else:
        assert "api_usage" not in run


def test_no_secret_in_output_reports_or_config(crm_run):
    """The tokens the audit authenticated with appear in no printed line, report or written config."""
    assert crm_run.secrets, "the sandbox exported no token to check"
    for secret in crm_run.secrets:
        assert secret not in crm_run.outputs


def test_sandbox_stops_on_sigterm_with_exit_0(crm_run):
    assert crm_run.exit_code == 0 and "sandbox stopped" in crm_run.tail


def test_audit_assignments_match_the_csv_audit(crm_run, file_audit, request):
    file_rows, _ = file_audit
    dims = _dimensions(file_rows)
    columns = [c for d in dims for c in (d, f"{d}_rule")]
    diffs = [
        (i, c, file_rows[i][c], crm_run.rows[i][c])
        for i in sorted(file_rows)
        for c in columns
        if crm_run.rows[i][c] != file_rows[i][c]
    ]
    by_column = Counter(c for _, c, _, _ in diffs)
    shown = "\n".join(f"  {i} {c}: file={a!r} {crm_run.crm}={b!r}" for i, c, a, b in diffs[:12])
    assert not diffs, f"{len({d[0] for d in diffs})} accounts differ ({dict(by_column)}):\n{shown}"


# ------------------------------------------------------------------ the README snippet
def _readme_snippet() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Try it against a local Salesforce or HubSpot", 1)
    if len(section) < 2:
        pytest.skip("README has no 'Try it against a local Salesforce or HubSpot' section")
    block = section[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readme_sandbox_snippet_works_as_written(tmp_path):
    """Run the README's two commands from a fresh folder holding examples/ and rules/ (as the checkout
    root does); only the fixed port is swapped for a free one and the console script's path resolved."""
    start, export, audit, stop = _readme_snippet()
    assert stop.split("#")[0].strip() == "kill %1"
    var, _, value = export.split("#")[0].strip().removeprefix("export ").partition("=")
    assert start.endswith(" &") and " sandbox " in start and audit.split()[1:3] == ["audit", "--config"]
    for name in ("examples", "rules"):
        shutil.copytree(ROOT / name, tmp_path / name)
    exe = crmseg_cmd()

    def argv(line: str) -> list[str]:
        words = line.removesuffix("&").split()
        assert words[0] == ".venv/bin/crmseg", line
        return [*exe, *words[1:]]

    start_args = argv(start)
    start_args[start_args.index("--port") + 1] = str(_free_port())
    sb = Sandbox.start(start_args, tmp_path)
    try:
        assert sb.exports.get(var) == value, (sb.exports, export)  # the README's export is what the sandbox prints
        done = _run(argv(audit), tmp_path, _env(**{var: value}))
        stats = sb.get("/__sandbox/stats")
    except BaseException:
        sb.kill()
        raise
    code, _ = sb.stop()
    config = audit.split("--config", 1)[1].split()[0]
    assert (tmp_path / config).is_file() and code == 0
    assert "segment" in done.stdout and "400" in done.stdout, done.stdout
    assert stats["write_endpoints"]["total"] == 0 and stats["calls"]["total"] > 0
