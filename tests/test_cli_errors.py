"""Errors become one message and an exit code in the root group, so ``CliRunner().invoke(cli, …)``
gives exactly what the ``crmseg`` console script gives."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from crmseg.cli import cli
from crmseg.cli.lazy import Lazy
from crmseg.errors import ConfigError, CrmUnavailableError, RuleError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("crmseg")  # the console script pip installed beside python


def console(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the ``crmseg`` console script (or, without one, the same entry point named ``crmseg``)."""
    if SCRIPT.is_file():
        cmd = [str(SCRIPT), *args]
    else:
        cmd = [sys.executable, "-c", "import sys; sys.argv[0] = 'crmseg'; from crmseg.cli import main; main()", *args]
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "80"}
    )


def in_process(*args: str, cwd: Path) -> Result:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), terminal_width=80)
    finally:
        os.chdir(old)


@pytest.mark.parametrize(
    "args, code, stderr_start",
    [
        # a CrmsegError (ConfigError): "error: ..." and its exit code, no traceback
        (["rules", "check", "--rules", "no-such-rules"], 2, "error: no-such-rules: rules directory not found\n"),
        # usage errors: click's message, exit 2
        (["audit"], 2, "Usage: crmseg audit [OPTIONS]\nTry 'crmseg audit --help' for help.\n\nError: give either"),
        (["no-such-command"], 2, "Usage: crmseg [OPTIONS] COMMAND [ARGS]...\n"),
        (["audit", "--as-of", "soon"], 2, "Usage: crmseg audit [OPTIONS]\n"),
    ],
)
def test_in_process_and_console_script_agree(args: list[str], code: int, stderr_start: str, tmp_path: Path) -> None:
    script = console(*args, cwd=tmp_path)
    local = in_process(*args, cwd=tmp_path)
    assert (script.returncode, script.stdout, script.stderr) == (local.exit_code, local.stdout, local.stderr)
    assert local.exit_code == code and local.stderr.startswith(stderr_start), local.stderr
    assert "Traceback" not in script.stderr


def test_a_rule_error_prints_its_problems_without_a_prefix(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bad.toml").write_text('dimension = "Bad Name"\n', encoding="utf-8")
    args = ["audit", "--source", str(ROOT / "examples" / "accounts.csv"), "--rules", "rules", "-q"]
    script = console(*args, cwd=tmp_path)
    local = in_process(*args, cwd=tmp_path)
    assert (script.returncode, script.stdout, script.stderr) == (local.exit_code, local.stdout, local.stderr)
    assert local.exit_code == 2 and local.stderr.startswith("rules/bad.toml: 'dimension' must be a name")


@pytest.mark.parametrize(
    "raised, code, stderr",
    [
        (ConfigError("bad config"), 2, "error: bad config\n"),
        (RuleError(["a.toml: one", "a.toml: two"]), 2, "a.toml: one\na.toml: two\n"),
        (CrmUnavailableError("no answer"), 4, "error: no answer\n"),
        (click.Abort(), 130, "aborted\n"),
        (KeyboardInterrupt(), 130, "\naborted\n"),
        (click.ClickException("plain"), 2, "Error: plain\n"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "out/x.json"), 2, None),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), 4, "error: Connection refused\n"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_the_root_group_maps_errors(
    raised: BaseException, code: int, stderr: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    @click.command("boom")
    def boom() -> None:
        raise raised

    monkeypatch.setitem(cli.commands, "boom", boom)
    r = CliRunner().invoke(cli, ["boom"])
    assert r.exit_code == code
    assert r.stderr == (stderr or "error: out/x.json: No such file or directory\n")
    assert r.stdout == ""


def test_standalone_mode_false_lets_errors_through() -> None:
    with pytest.raises(ConfigError, match="rules directory not found"):
        cli.main(["rules", "check", "--rules", "no-such-rules"], standalone_mode=False)


def test_a_missing_command_module_is_an_error_not_a_missing_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.lazy_subcommands, "gone", Lazy("crmseg.cli.gone:gone", "Went away."))
    r = CliRunner().invoke(cli, ["gone"])
    assert r.exit_code == 1
    assert r.stderr == (
        "error: command 'gone' cannot be loaded from crmseg.cli.gone:gone: ModuleNotFoundError: "
        "No module named 'crmseg.cli.gone' (the crmseg installation is incomplete or broken; reinstall it)\n"
    )
    assert "gone" in CliRunner().invoke(cli, ["--help"]).stdout
