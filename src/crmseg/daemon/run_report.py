"""What the daemon logs and counts when a run of a sync ends: the ``run`` event (status, mode,
counts, duration, API calls left), a warning each for failed records, bad input rows skipped
and a drift alert, and the run in the metrics."""

from __future__ import annotations

import logging
from typing import Any

from crmseg.daemon.logs import log_event
from crmseg.daemon.metrics import Metrics

log = logging.getLogger("crmseg.daemon")


def report_run(out: Any, metrics: Metrics) -> None:
    """Log and count one run's outcome (a :class:`~crmseg.sync.outcome.SyncOutcome`)."""
    level = logging.INFO if out.status == "succeeded" else logging.WARNING
    log_event(
        log,
        level,
        "run",
        f"sync {out.sync}: run {out.run_id} {out.status}",
        sync=out.sync,
        run_id=out.run_id,
        status=out.status,
        mode=out.mode,
        **out.counts,
        duration_s=out.duration_s,
        api_remaining=out.api_remaining[0] if out.api_remaining else None,
        message=out.message,
    )
    if out.failures:
        log_event(
            log,
            logging.WARNING,
            "records_failed",
            f"sync {out.sync}: {len(out.failures)} record(s) failed; retried on the next run",
            sync=out.sync,
            run_id=out.run_id,
            failed=len(out.failures),
            records=[f"{rid}: {err}" for rid, err in out.failures[:10]],
        )
    if out.skipped_rows:
        log_event(
            log,
            logging.WARNING,
            "rows_skipped",
            f"sync {out.sync}: {len(out.skipped_rows)} bad input row(s) skipped (skip_bad_rows)",
            sync=out.sync,
            run_id=out.run_id,
            skipped=len(out.skipped_rows),
            rows=out.skipped_rows[:10],
        )
    if out.drift_alert:
        log_event(
            log,
            logging.WARNING,
            "drift_alert",
            f"sync {out.sync}: drift alert: {out.drift_alert}",
            sync=out.sync,
            run_id=out.run_id,
        )
    remaining = out.api_remaining[0] if out.api_remaining else None
    metrics.observe(out.sync, out.status, out.counts, out.duration_s, remaining)
