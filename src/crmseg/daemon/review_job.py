"""The scheduled review of one sync in the daemon (``[review] schedule``; the scheduler runs it
as the job ``review:NAME`` on a thread of its own, so a review never holds up a sync).

It waits for a run of the sync that holds the lease to finish (up to :data:`REVIEW_WAIT_S`),
reads the state without the lease (reads go on beside a writer in SQLite's WAL mode and
PostgreSQL), writes the reports to ``[review] reports_dir`` (:mod:`crmseg.reviewing.scheduled`),
logs each alert as a ``review_alert`` event and sends them to ``[alerts]``. A review that fails
is logged (``review_failed``) and counted (``crmseg_review_runs{status="failed"}``); the daemon
goes on.
"""

from __future__ import annotations

import logging
import threading
import time

from crmseg.alerts import review_alert
from crmseg.daemon.logs import log_event
from crmseg.daemon.metrics import Metrics
from crmseg.errors import CrmsegError
from crmseg.reviewing.scheduled import scheduled_review, wait_for_run
from crmseg.sync.service import SyncService

log = logging.getLogger("crmseg.daemon")
#: How long a scheduled review waits for a run of its sync to finish before reading anyway.
REVIEW_WAIT_S = 3600.0


def run_review(name: str, service: SyncService, stop: threading.Event, metrics: Metrics) -> None:
    """One scheduled review of ``name``'s state (:func:`review_sync`).
    Whatever goes wrong is logged and counted; nothing stops the daemon."""
    try:
        review_sync(name, service, stop, metrics)
    except CrmsegError as exc:
        log_event(log, logging.ERROR, "review_failed", f"review of sync {name}: {exc}", sync=name)
        metrics.review_observed(name, "failed")
    except Exception as exc:
        log.exception(
            "review of sync %s crashed: %s", name, exc, extra={"event": "review_failed", "fields": {"sync": name}}
        )
        metrics.review_observed(name, "failed")


def review_sync(
    name: str, service: SyncService, stop: threading.Event, metrics: Metrics, wait_s: float = REVIEW_WAIT_S
) -> None:
    """Review ``name``'s state with ``service``'s config (one config for the whole review) once no
    run holds the sync or ``wait_s`` has passed (``stop`` set: no review); log, alert and count it."""
    cfg = service.cfg
    if name not in cfg.syncs:
        return
    if not wait_for_run(cfg, name, stop, wait_s):
        if stop.is_set():
            return
        log_event(
            log,
            logging.WARNING,
            "review_not_waiting",
            f"review of sync {name}: a run still holds the sync after {wait_s:.0f} s; reviewing the state as it is",
            sync=name,
        )
    started = time.perf_counter()
    done = scheduled_review(cfg, name)
    reports = [str(p) for p in done.reports.values()]
    log_event(
        log,
        logging.INFO,
        "review",
        f"review of sync {name}: {done.period['start']} to {done.period['end']}, "
        f"{len(done.alerts)} alert(s); reports in {cfg.resolve(cfg.review.reports_dir)}",
        sync=name,
        period=done.period,
        alerts=len(done.alerts),
        warnings=len(done.warnings),
        reports=reports,
        duration_s=round(time.perf_counter() - started, 3),
    )
    for text in done.alerts:
        log_event(log, logging.WARNING, "review_alert", f"review of sync {name}: alert: {text}", sync=name, alert=text)
    if done.alerts and service.alerts is not None:
        service.alerts.send(review_alert(name, done.period, done.alerts, reports))
    metrics.review_observed(name, "alerted" if done.alerts else "succeeded", len(done.alerts))
