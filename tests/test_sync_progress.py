"""A sync's progress says "syncing" and shows read / evaluated / written / failed as they move:
plain lines off a terminal, a live line on one (an audit keeps saying "auditing")."""

from __future__ import annotations

import itertools
import os
import pty
import re
import subprocess

import pytest

from crmseg.cli.options import sync_line, sync_log_lines
from crmseg.config import load_config
from crmseg.sync.outcome import RunProgress
from crmseg.sync.service import SyncService

from .cli_run import crmseg_cmd
from .sync_env import SyncEnv

N = 150


@pytest.fixture
def env(tmp_path):
    e = SyncEnv(tmp_path, "hubspot", N)
    yield e
    e.close()


def _summary(stdout: str) -> dict[str, int]:
    m = re.search(r"read ([\d,]+) · evaluated ([\d,]+) · changed [\d,]+ · written ([\d,]+) · failed ([\d,]+)", stdout)
    assert m, stdout
    names = ("read", "evaluated", "written", "failed")
    return {name: int(g.replace(",", "")) for name, g in zip(names, m.groups(), strict=True)}


def test_sync_logs_syncing_lines_with_read_evaluated_written_failed(env):
    bad = env.sb.ids()[:3]
    env.sb.inject({"kind": "record_failure", "ids": bad, "count": -1, "error": "UNABLE_TO_LOCK_ROW"})
    res = env.run("sync", "--config", str(env.config))
    assert res.returncode == 1, res.output  # three records failed
    got = _summary(res.stdout)
    assert got["read"] == N and got["failed"] == 3 and got["written"] > 0
    lines = [line for line in res.stderr.splitlines() if line.startswith("syncing")]
    assert lines == [
        f"syncing [read]: read {N} · evaluated 0 · written 0 · failed 0",
        f"syncing [done]: read {N} · evaluated {N} · written {got['written']} · failed 3",
    ], res.stderr
    assert "auditing" not in res.stderr and "\x1b[" not in res.stderr
    quiet = env.sync()  # -q: the summary only
    assert quiet.returncode == 1 and "syncing" not in quiet.stderr


def test_the_runner_reports_each_chunk_and_each_write_batch(env):
    seen: list[RunProgress] = []
    service = SyncService(load_config(env.config), env=env.sb.env())
    with service.plan(None) as planned:
        out = service.run(planned, tick=seen.append)
    assert out.status == "succeeded", out.message
    phases = [p.phase for p in seen]
    assert phases[0] == "read" and phases[-1] == "done" and set(phases) == {"read", "evaluate", "done"}
    assert phases.index("evaluate") > max(i for i, ph in enumerate(phases) if ph == "read")  # read, then evaluate
    batches = -(-out.counts["written"] // 100)  # HubSpot's batch size
    # one update per 1,000-account chunk evaluated, and one per write batch as it is answered
    assert phases.count("evaluate") == 1 + batches
    for a, b in itertools.pairwise(seen):  # each count only grows
        assert b.read >= a.read and b.evaluated >= a.evaluated and b.written >= a.written and b.failed >= a.failed
    last = seen[-1]
    assert (last.read, last.evaluated, last.written, last.failed) == (
        out.counts["read"],
        out.counts["evaluated"],
        out.counts["written"],
        0,
    )


def test_plain_lines_at_each_phase_end_and_every_n(monkeypatch):
    import crmseg.cli.options as options

    printed: list[str] = []
    monkeypatch.setattr(options, "err", printed.append)
    tick = sync_log_lines(every=1000)
    for n in (500, 1000, 1500, 2000, 2300, 2300):
        tick(RunProgress("read", n, 0, 0, 0))
    for n in (1000, 2000, 2300):
        tick(RunProgress("guard", 2300, 0, 0, 0, checked=n))
    for n, w in ((1000, 0), (1000, 100), (2000, 100), (2300, 250)):
        tick(RunProgress("evaluate", 2300, n, w, 1))
    tick(RunProgress("done", 2300, 2300, 250, 1))
    assert printed == [
        "syncing [read]: read 1,000 · evaluated 0 · written 0 · failed 0",
        "syncing [read]: read 2,000 · evaluated 0 · written 0 · failed 0",
        "syncing [read]: read 2,300 · evaluated 0 · written 0 · failed 0",  # the phase's end
        "syncing [change guard]: read 2,300 · checked 1,000 · evaluated 0 · written 0 · failed 0",
        "syncing [change guard]: read 2,300 · checked 2,000 · evaluated 0 · written 0 · failed 0",
        "syncing [change guard]: read 2,300 · checked 2,300 · evaluated 0 · written 0 · failed 0",
        "syncing [evaluate and write]: read 2,300 · evaluated 1,000 · written 0 · failed 1",
        "syncing [evaluate and write]: read 2,300 · evaluated 2,000 · written 100 · failed 1",
        "syncing [done]: read 2,300 · evaluated 2,300 · written 250 · failed 1",
    ]
    assert sync_line(RunProgress("evaluate", 5, 4, 3, 2)) == (
        "syncing [evaluate and write]: read 5 · evaluated 4 · written 3 · failed 2"
    )


def test_sync_shows_a_live_syncing_line_on_a_tty(env):
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*crmseg_cmd(), "sync", "--config", str(env.config)],
        cwd=env.tmp,
        env=env.env(COLUMNS="200"),
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert proc.wait(timeout=120) == 0, seen.decode(errors="replace") + out
    os.close(master)
    assert b"syncing [" in seen and b"written" in seen and b"failed" in seen, seen
    assert b"auditing" not in seen
    assert "succeeded" in out
