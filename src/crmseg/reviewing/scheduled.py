"""The review the daemon runs on ``[review] schedule``: one sync's state, the default periods,
its reports written to ``[review] reports_dir``.

A scheduled review is ``crmseg review --config C --sync NAME`` at the time it fires: the last
full (fiscal) quarter compared with the one before, attributed when each deal was created. Its
reports are named after the sync, the period and the day of the run
(``review-NAME-2026-04-01_2026-06-30-on-2026-07-06.json``), so a folder keeps one set per run day
(a second run on the same day replaces that day's files); each file is written to a temporary
name and renamed, so a reader never sees half a report.

It reads the state without the sync's lease (it writes nothing to the state, and SQLite in WAL
mode and PostgreSQL let a reader go on beside a writer), but waits for a run of the sync that
holds the lease to finish first (:func:`wait_for_run`), so a review does not read a run
half-recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from crmseg.config import Config
from crmseg.config.review import ReportFormat
from crmseg.errors import ConfigError
from crmseg.reviewing.document import review_document
from crmseg.reviewing.from_state import state_inputs
from crmseg.reviewing.periods import choose_periods
from crmseg.reviewing.request import ReviewRequest

__all__ = ["ScheduledReview", "report_paths", "scheduled_review", "wait_for_run", "write_reports"]

#: File suffix per report format.
SUFFIX: dict[str, str] = {"json": "json", "html": "html", "csv": "csv", "markdown": "md"}


@dataclass(frozen=True)
class ScheduledReview:
    """What one scheduled review of a sync found and wrote."""

    sync: str
    period: dict[str, str]  # {"start", "end"} (ISO dates)
    alerts: list[str]
    warnings: list[str]
    reports: dict[str, Path] = field(default_factory=dict)  # format -> file written


def report_paths(
    folder: Path, sync: str, start: date, end: date, day: date, formats: tuple[str, ...]
) -> dict[str, Path]:
    """Where a review of ``sync`` over ``start``..``end`` run on ``day`` writes each format."""
    stem = f"review-{sync}-{start.isoformat()}_{end.isoformat()}-on-{day.isoformat()}"
    return {fmt: folder / f"{stem}.{SUFFIX[fmt]}" for fmt in formats}


def write_reports(doc: Mapping[str, Any], paths: Mapping[str, Path]) -> None:
    """Write ``doc`` in each format to its path (each written atomically: temporary file, rename)."""
    from crmseg.report.review_files import write_review_csv, write_review_json, write_review_markdown
    from crmseg.report.review_html import write_review_html

    writers: dict[str, Callable[[Mapping[str, Any], Path], None]] = {
        "json": write_review_json,
        "html": write_review_html,
        "csv": write_review_csv,
        "markdown": write_review_markdown,
    }
    for fmt, path in paths.items():
        writers[fmt](doc, path)


def scheduled_review(cfg: Config, sync: str, now: datetime | None = None) -> ScheduledReview:
    """Review ``sync``'s state as of ``now`` (default: now) and write ``[review] reports`` to
    ``[review] reports_dir``. CrmsegError (nothing written) when the review cannot be computed:
    no state or no deals yet, a ``customer`` expression that does not check, no closed deal."""
    settings = cfg.review
    at = now or datetime.now(UTC)
    current, before = choose_periods(at.date(), fiscal_year_start_month=settings.fiscal_year_start_month)
    request = ReviewRequest(current, before, settings, as_of=at)
    inputs = state_inputs(cfg, sync, request)
    if not inputs.dimensions:
        raise ConfigError("no dimension to review")
    result, doc = review_document(inputs, request, f"sync '{sync}' ({cfg.path}), scheduled")
    formats: tuple[ReportFormat, ...] = settings.reports
    paths = report_paths(cfg.resolve(settings.reports_dir), sync, current.start, current.end, at.date(), formats)
    try:
        write_reports(doc, paths)
    except OSError as exc:
        why = exc.strerror or exc
        raise ConfigError(f"[review] reports_dir {settings.reports_dir}: cannot write there: {why}") from None
    return ScheduledReview(sync, current.to_json(), list(result.alerts), list(doc.get("warnings") or []), paths)


def wait_for_run(cfg: Config, sync: str, stop: threading.Event, limit_s: float, poll_s: float = 0.5) -> bool:
    """Wait while a run of ``sync`` holds its lease, up to ``limit_s`` or until ``stop`` is set.
    True when no run holds it (or there is no state yet); False when one still does."""
    from crmseg.state import open_state
    from crmseg.sync.lease import lease_live

    deadline = time.monotonic() + limit_s
    store = open_state(cfg, create=False)
    if store is None:
        return True
    try:
        while lease_live(store.lease(sync), store.now()):
            if time.monotonic() >= deadline or stop.wait(poll_s):
                return False
        return True
    finally:
        store.close()
