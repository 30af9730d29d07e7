"""The one way tests run the ``crmseg`` command line.

``crmseg(...)`` runs it in this process through click's test runner: the same root group,
error mapping and exit codes as the console script, without a new interpreter's ~0.5 s of
imports. ``crmseg_process(...)`` runs the installed console script as a real subprocess: for
tests about signals, a TTY, how the process exits, or the console script itself.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
# Credentials a developer may have exported: never let them reach a test's CLI run.
SECRET_VARS = (
    "SF_USERNAME",
    "SF_PASSWORD",
    "SF_SECURITY_TOKEN",
    "SF_SESSION_ID",
    "SF_CONSUMER_KEY",
    "SF_CONSUMER_SECRET",
    "SF_PRIVATE_KEY_FILE",
    "HUBSPOT_ACCESS_TOKEN",
)


@dataclass(frozen=True)
class CliResult:
    """What a run printed and how it ended (the fields of ``subprocess.CompletedProcess``)."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class _LastResort(logging.Handler):
    """What a console-script run shows of crmseg's log records: Python's last-resort handler
    (warnings and worse, the bare message, on stderr). In pytest the root logger has handlers, so
    that handler would never fire; this one writes to the ``sys.stderr`` of the moment, which
    click's runner has swapped for its own."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")


@contextmanager
def _console_logging() -> Iterator[None]:
    logger, handler = logging.getLogger("crmseg"), _LastResort()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@contextmanager
def _cwd(path: Path | str) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def crmseg(
    *args: str | Path,
    cwd: Path | str = ROOT,
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
) -> CliResult:
    """Run ``crmseg ARGS`` in-process from ``cwd``; ``env`` adds variables (``None`` unsets one).

    The secret variables of :data:`SECRET_VARS` are unset unless ``env`` gives them."""
    from crmseg.cli import cli

    argv = tuple(str(a) for a in args)
    run_env: dict[str, str | None] = dict.fromkeys(SECRET_VARS)
    run_env.update({"NO_COLOR": "1", "COLUMNS": "200"})
    run_env.update(env or {})
    with _cwd(cwd), _console_logging():
        res = CliRunner().invoke(cli, argv, env=run_env, input=input, prog_name="crmseg")
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception  # an unmapped exception is a bug the console script would show as a traceback
    return CliResult(argv, res.exit_code, res.stdout, res.stderr)


def crmseg_cmd() -> list[str]:
    """The installed ``crmseg`` console script (``python -m crmseg`` where it is missing)."""
    script = Path(sys.executable).with_name("crmseg")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "crmseg"]


def process_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without the secret variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env.update(NO_COLOR="1", COLUMNS="200", PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


def crmseg_process(
    *args: str | Path,
    cwd: Path | str = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the console script ``crmseg ARGS`` as a subprocess (``env`` adds to :func:`process_env`)."""
    return subprocess.run(
        [*crmseg_cmd(), *map(str, args)],
        cwd=cwd,
        env=process_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
