"""Options and output helpers shared by the command modules: ``--engine``, the data-file options,
``--as-of DATE`` (the moment ``days_since`` counts from, for reproducible audits), stderr
messages and the progress displays of an audit ("auditing") and of a sync ("syncing": read,
evaluated, written, failed) — a live line on a terminal, plain lines otherwise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from crmseg.dates import parse_iso

if TYPE_CHECKING:
    from crmseg.sync.outcome import RunProgress

__all__ = [
    "ENGINE",
    "AsOf",
    "Progress",
    "SyncProgress",
    "as_of_option",
    "err",
    "file_kwargs",
    "file_options",
    "log_lines",
    "parse_as_of",
    "sync_log_lines",
]


def parse_as_of(text: str) -> datetime:
    """``2026-11-01`` (midnight UTC) or an ISO 8601 datetime (naive = UTC); ValueError otherwise."""
    return parse_iso(text)


class AsOf(click.ParamType):
    """A click parameter holding a date or datetime, as an aware UTC datetime."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_as_of(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date like 2026-11-01 or a datetime like 2026-11-01T09:00:00Z", param, ctx)


def as_of_option(f: Any) -> Any:
    """The shared ``--as-of`` option (None: now)."""
    return click.option(
        "--as-of",
        "as_of",
        type=AsOf(),
        default=None,
        help="Evaluate as of this date (YYYY-MM-DD, midnight UTC) or datetime: days_since "
        "counts from it, so the result does not move with the calendar.",
    )(f)


ENGINE = click.option(
    "--engine",
    type=click.Choice(["auto", "durable", "native"]),
    default=None,
    help="Rules engine (default: the sync's setting, else auto = native; same results either way).",
)


def file_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--delimiter``, ``--encoding`` and ``--skip-bad-rows`` for commands reading a data file."""
    f = click.option(
        "--skip-bad-rows",
        is_flag=True,
        help="Leave out bad input rows (counted and named in the report) instead of stopping.",
    )(f)
    f = click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of the data file.")(f)
    f = click.option(
        "--delimiter",
        help="CSV delimiter: a character or comma/semicolon/tab/pipe (default: detected from the header).",
    )(f)
    return f


def file_kwargs(delimiter: str | None, encoding: str, skip_bad_rows: bool) -> dict[str, Any]:
    """The data-file reading arguments for the :func:`file_options` values."""
    return {"delimiter": delimiter, "encoding": encoding, "on_bad_row": "skip" if skip_bad_rows else "raise"}


def err(message: str) -> None:
    """Print a message on stderr."""
    click.echo(message, err=True)


def log_lines(every: int = 50_000) -> Callable[[int], None]:
    """Off a terminal: one plain progress line on stderr per ``every`` accounts."""
    import time

    start = time.perf_counter()

    def tick(n: int) -> None:
        if n % every == 0:
            rate = n / max(time.perf_counter() - start, 1e-9)
            err(f"audit: {n:,} accounts evaluated ({rate:,.0f}/s)")

    return tick


class Progress:
    """A live account counter on stderr for TTYs."""

    def __enter__(self) -> Callable[[int], None]:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.p = Progress(
            SpinnerColumn(),
            TextColumn("auditing: {task.completed:,} accounts"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.p.start()
        task = self.p.add_task("audit", total=None)
        return lambda n: self.p.update(task, completed=n)

    def __exit__(self, *exc: Any) -> None:
        self.p.stop()


#: What each phase of a sync is doing, for its progress display.
SYNC_PHASES = {"read": "read", "guard": "change guard", "evaluate": "evaluate and write", "done": "done"}


def sync_line(p: RunProgress) -> str:
    """``syncing [read]: read 2,000 · evaluated 0 · written 0 · failed 0``."""
    guard = f" · checked {p.checked:,}" if p.phase == "guard" else ""
    return (
        f"syncing [{SYNC_PHASES.get(p.phase, p.phase)}]: read {p.read:,}{guard} · evaluated {p.evaluated:,} · "
        f"written {p.written:,} · failed {p.failed:,}"
    )


def sync_log_lines(every: int = 50_000) -> Callable[[RunProgress], None]:
    """Off a terminal: a plain progress line on stderr at the end of each phase of a sync, and
    within a phase each time its counter passes a multiple of ``every``."""
    prev: RunProgress | None = None
    shown = False  # whether ``prev`` was printed

    def tick(p: RunProgress) -> None:
        nonlocal prev, shown
        if prev is not None and prev.phase != p.phase and not shown and p.phase != "done":
            err(sync_line(prev))  # the figures the phase ended with
        before = prev.count if prev is not None and prev.phase == p.phase else 0
        shown = p.phase == "done" or p.count // every > before // every
        if shown:
            err(sync_line(p))
        prev = p

    return tick


class SyncProgress:
    """A live line on stderr for TTYs: the sync's phase, read / evaluated / written / failed."""

    def __enter__(self) -> Callable[[RunProgress], None]:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.p = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.p.start()
        task = self.p.add_task("syncing", total=None)
        return lambda p: self.p.update(task, description=sync_line(p))

    def __exit__(self, *exc: Any) -> None:
        self.p.stop()
