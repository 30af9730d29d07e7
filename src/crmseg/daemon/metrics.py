"""Prometheus metrics and ``/healthz`` for the daemon (prometheus_client, own registry).

Served by a small threaded HTTP server bound to 127.0.0.1 unless the config names another
address: ``GET /metrics`` (Prometheus text format) and ``GET /healthz`` — 200 while every
scheduled sync has succeeded within twice its interval (counted from the daemon's start until
its first success) and no edit of a sync's rule or mapping files is rejected; else 503,
``"status": "degraded"``, with the syncs that are late, the rejected edits (file, line,
reason) and one line per reason (:class:`crmseg.daemon.health.Health`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

from crmseg.daemon.health import Health, RejectedEdit


class Metrics:
    """The daemon's counters and gauges, and the health rule."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter("crmseg_sync_runs", "Sync runs by outcome", ["sync", "status"], registry=r)
        self.records = Counter("crmseg_sync_records", "Records per run stage", ["sync", "stage"], registry=r)
        self.api_calls = Counter("crmseg_sync_api_calls", "CRM API calls made by syncs", ["sync"], registry=r)
        self.api_remaining = Gauge(
            "crmseg_sync_api_remaining", "CRM daily API calls left, as last reported", ["sync"], registry=r
        )
        self.duration = Histogram(
            "crmseg_sync_run_duration_seconds",
            "Sync run duration",
            ["sync"],
            registry=r,
            buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 7200),
        )
        self.last_success = Gauge(
            "crmseg_sync_last_success_timestamp_seconds", "Unix time of the last successful run", ["sync"], registry=r
        )
        self.skipped = Counter(
            "crmseg_sync_skipped", "Runs skipped because another run held the lock", ["sync"], registry=r
        )
        self.rules_rejected = Gauge(
            "crmseg_rules_rejected",
            "1 while an edit of the sync's rule or mapping files fails check (the last good rules run)",
            ["sync"],
            registry=r,
        )
        self.rules = Info("crmseg_rules", "The rules version each sync runs (fingerprint)", ["sync"], registry=r)
        self.rules_loaded = Gauge(
            "crmseg_rules_loaded_timestamp_seconds", "Unix time the running rules were loaded", ["sync"], registry=r
        )
        self.reviews = Counter(
            "crmseg_review_runs",
            "Scheduled reviews by outcome (succeeded, alerted: written with alerts, failed: nothing written)",
            ["sync", "status"],
            registry=r,
        )
        self.review_alerts = Gauge(
            "crmseg_review_alerts", "Alerts the sync's last scheduled review raised", ["sync"], registry=r
        )
        self.review_last_success = Gauge(
            "crmseg_review_last_success_timestamp_seconds",
            "Unix time the sync's last scheduled review wrote its reports",
            ["sync"],
            registry=r,
        )
        self._success: dict[str, float] = {}
        self._period: dict[str, float] = {}
        self._rejected: dict[str, RejectedEdit] = {}
        self._live: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def rules_live(self, sync: str, fingerprint: str, since: str) -> None:
        """``sync`` runs rules version ``fingerprint`` (loaded at ``since``); no edit of it is rejected."""
        from crmseg.dates import parse_iso

        self.rules.labels(sync).info({"fingerprint": fingerprint, "since": since})
        self.rules_loaded.labels(sync).set(parse_iso(since).timestamp())
        self.rules_rejected.labels(sync).set(0)
        with self._lock:
            self._live[sync] = {"fingerprint": fingerprint, "since": since}
            self._rejected.pop(sync, None)

    def edit_rejected(self, edit: RejectedEdit) -> None:
        """An edit of ``edit.sync``'s files is rejected: health degraded until :meth:`rules_live`."""
        self.rules_rejected.labels(edit.sync).set(1)
        with self._lock:
            self._rejected[edit.sync] = edit
            if edit.kept_fingerprint is None:
                self._live.pop(edit.sync, None)

    def schedule(self, sync: str, period_s: float | None) -> None:
        """Declare a scheduled sync and its period (None: not scheduled, never late)."""
        with self._lock:
            if period_s:
                self._period[sync] = period_s
            else:
                self._period.pop(sync, None)
        for status in ("succeeded", "partial", "failed", "aborted"):
            self.runs.labels(sync, status)
        for stage in ("read", "written", "failed"):
            self.records.labels(sync, stage)

    def observe(
        self, sync: str, status: str, counts: dict[str, int], duration_s: float, api_remaining: int | None
    ) -> None:
        """Count one finished run."""
        self.runs.labels(sync, status).inc()
        for stage in ("read", "written", "failed"):
            self.records.labels(sync, stage).inc(int(counts.get(stage, 0)))
        self.api_calls.labels(sync).inc(int(counts.get("api_calls", 0)))
        if api_remaining is not None:
            self.api_remaining.labels(sync).set(api_remaining)
        self.duration.labels(sync).observe(duration_s)
        if status in ("succeeded", "partial"):
            now = self.clock()
            self.last_success.labels(sync).set(now)
            with self._lock:
                self._success[sync] = now

    def review_scheduled(self, sync: str) -> None:
        """Declare a sync's scheduled review (its counters show from the start, at 0)."""
        for status in ("succeeded", "alerted", "failed"):
            self.reviews.labels(sync, status)

    def review_observed(self, sync: str, status: str, alerts: int = 0) -> None:
        """Count one scheduled review: ``succeeded``, ``alerted`` (reports written, alerts raised)
        or ``failed`` (nothing written)."""
        self.reviews.labels(sync, status).inc()
        if status != "failed":
            self.review_alerts.labels(sync).set(alerts)
            self.review_last_success.labels(sync).set(self.clock())

    def rejected_edit(self, sync: str) -> RejectedEdit | None:
        """The edit of ``sync``'s files rejected now, if any."""
        with self._lock:
            return self._rejected.get(sync)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, body): a sync is late when it has not succeeded for twice its period; an
        edit is rejected until a version passes check or the files are back to the live one."""
        now = self.clock()
        late = {}
        with self._lock:
            for sync, period in self._period.items():
                since = self._success.get(sync, self.started)
                if now - since > 2 * period:
                    late[sync] = {
                        "last_success": self._success.get(sync),
                        "seconds_since": round(now - since, 1),
                        "limit_s": 2 * period,
                    }
            health = Health(late, dict(self._rejected), dict(self._live))
        return health.body()


class MetricsServer:
    """``/metrics`` and ``/healthz`` on ``host:port`` in a daemon thread."""

    def __init__(self, metrics: Metrics, host: str = "127.0.0.1", port: int = 0) -> None:
        outer = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok, detail = outer.health()
                    self._send(200 if ok else 503, json.dumps(detail).encode(), "application/json")
                else:
                    self._send(404, b'{"error": "not found: /metrics or /healthz"}', "application/json")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="crmseg-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
