"""The daemon's run events, in-process: a csv sync that skips bad rows says so in a warning."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from crmseg.daemon import reload
from crmseg.daemon.scheduler import Daemon

ROOT = Path(__file__).resolve().parents[1]


def test_a_sync_that_skips_bad_rows_logs_a_rows_skipped_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reload, "SETTLE_S", 0.0)  # the copied rules are fresh; no editor is writing them
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    lines = (ROOT / "examples" / "accounts.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].rstrip("\n") + ",extra\n"  # line 4: one field too many
    (tmp_path / "accounts.csv").write_text("".join(lines), encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        '[state]\npath = "state.sqlite"\n[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\n'
        f'mapping = "{ROOT / "connectors" / "csv.toml"}"\nrules = "rules"\nengine = "native"\n'
        'interval = "1h"\nskip_bad_rows = true\n',
        encoding="utf-8",
    )
    daemon = Daemon(tmp_path / "config.toml")
    with caplog.at_level(logging.INFO):
        daemon._run("demo")
    events = {getattr(r, "event", None): r for r in caplog.records}
    assert events["run"].fields["status"] == "succeeded" and events["run"].fields["read"] == len(lines) - 2
    skipped = events["rows_skipped"]
    assert skipped.levelno == logging.WARNING
    assert skipped.fields["skipped"] == 1 and skipped.fields["rows"] == [
        f"{tmp_path / 'accounts.csv'}:4: 28 fields, the header has 27"
    ]
