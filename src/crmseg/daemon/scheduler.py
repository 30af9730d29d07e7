"""``crmseg daemon``: every sync on its schedule (APScheduler 3), until SIGTERM/SIGINT.

- One job per sync with an explicit id (``sync:NAME``), an interval or cron trigger
  (:mod:`crmseg.daemon.triggers`), ``max_instances=1``, ``coalesce=True`` (missed runs run
  once) and an explicit misfire grace time (the library's default of 1 s silently drops a run
  that starts a little late).
- Whether a run may start is decided by the state store's lease, not by the scheduler: a run
  held by this daemon, another daemon on any host, or a manual ``crmseg sync`` makes this one
  log a clear line and skip.
- SIGTERM/SIGINT: no new runs; running syncs finish their current write batch and record
  ``aborted``; the daemon exits 0 once they have, or 1 after ``shutdown_timeout``. A second
  signal exits at once. SIGHUP re-reads the config (schedules added, changed or removed).
- Rules and mappings are re-checked before each run (:mod:`crmseg.daemon.reload`); the
  version in use and a rejected edit go to the metrics, ``/healthz`` and the state store
  (``rule_status``), where ``crmseg status`` reads them.
- Every run the daemon starts is recorded in the state, those that fail before reading
  included (:meth:`crmseg.sync.service.SyncService.record_not_started`); a run that ends is
  logged and counted (:mod:`crmseg.daemon.run_report`).
- ``[review] schedule``: one more job per reviewed sync (``review:NAME``), on a thread of its
  own so a review never holds up a sync (:mod:`crmseg.daemon.review_job`).
- While it runs, the daemon holds the schedule in the state store: every
  :data:`HEARTBEAT_S` (and after each run) it rewrites its rows (sync, next fire time, holder,
  host, pid) with an expiry :data:`SCHEDULE_TTL_S` ahead, and drops them when it stops.
  ``crmseg status`` shows a next run only from a row that has not expired.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from crmseg.config import Config, load_config
from crmseg.daemon.health import RejectedEdit
from crmseg.daemon.logs import log_event
from crmseg.daemon.metrics import Metrics, MetricsServer
from crmseg.daemon.reload import GoodRules, RuleGuard
from crmseg.daemon.review_job import run_review
from crmseg.daemon.run_report import report_run
from crmseg.daemon.triggers import period_of, review_trigger, trigger_for
from crmseg.errors import ConfigError, CrmsegError
from crmseg.heap import frozen_heap
from crmseg.state.store import RuleStatus, StateStore
from crmseg.sync.lease import SyncLocked, holder_id
from crmseg.sync.service import SyncService

log = logging.getLogger("crmseg.daemon")
MIN_GRACE_S = 30.0
#: Seconds between two renewals of the daemon's schedule rows in the state store.
HEARTBEAT_S = 5.0
#: How long a schedule row stays valid unless renewed: a daemon gone that long shows no next run.
SCHEDULE_TTL_S = 30.0
#: The job id prefix of a scheduled review (``review:NAME``); a sync's jobs are ``sync:NAME``.
REVIEW_JOB = "review:"


class Daemon:
    """The scheduler, the shared stop flag, the rule guard, metrics and signal handling."""

    def __init__(
        self,
        config_path: str | Path,
        *,
        cfg: Config | None = None,
        metrics_port: int | None = None,
        metrics_host: str | None = None,
    ) -> None:
        """``cfg``: the config at ``config_path`` loaded already (it is read again only on SIGHUP)."""
        self.config_path = Path(config_path)
        self.service = SyncService(cfg if cfg is not None else load_config(self.config_path))  # replaced on SIGHUP
        self.stop = threading.Event()  # running syncs stop between batches, and retry waits end, when set
        self.exit = threading.Event()
        self.guard = RuleGuard(listener=self)
        self.metrics = Metrics()
        self.holder = holder_id()  # names this daemon in its schedule rows and rule reports
        self._store: StateStore | None = None
        self._store_lock = threading.Lock()
        dcfg = self.cfg.daemon
        self.metrics_port = metrics_port if metrics_port is not None else dcfg.metrics_port
        self.metrics_host = metrics_host or dcfg.metrics_host
        self.shutdown_timeout = dcfg.shutdown_timeout_s
        self.server: MetricsServer | None = None
        self._active = 0
        self._active_cv = threading.Condition()
        self._signals: list[int] = []
        self._hup = threading.Event()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            # reviews on a thread of their own: one waiting for a run never takes a sync's thread
            executors={"default": ThreadPoolExecutor(max(1, len(self.cfg.syncs))), "review": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    @property
    def cfg(self) -> Config:
        """The config in use (the one last loaded without error)."""
        return self.service.cfg

    # ------------------------------------------------------------------ schedule
    def schedule(self, cfg: Config) -> None:
        """Add, update or remove one job per sync so the scheduler matches ``cfg``."""
        wanted = set()
        for name, sync_cfg in cfg.syncs.items():
            trigger = trigger_for(sync_cfg)
            job_id = f"sync:{name}"
            if trigger is None:
                log_event(
                    log, logging.INFO, "not_scheduled", f"sync {name}: no interval or cron; not scheduled", sync=name
                )
                self.metrics.schedule(name, None)
                continue
            period = period_of(trigger)
            wanted.add(job_id)
            self.metrics.schedule(name, period)
            grace = int(max(MIN_GRACE_S, period))
            if self.scheduler.get_job(job_id) is None:
                self.scheduler.add_job(
                    self.run_job,
                    trigger,
                    args=[name],
                    id=job_id,
                    name=name,
                    misfire_grace_time=grace,
                    next_run_time=datetime.now(UTC),
                )
            else:
                self.scheduler.reschedule_job(job_id, trigger=trigger)
                self.scheduler.modify_job(job_id, misfire_grace_time=grace)
            log_event(
                log,
                logging.INFO,
                "scheduled",
                f"sync {name}: every {sync_cfg.cron or sync_cfg.interval}",
                sync=name,
                period_s=period,
            )
        wanted |= self._schedule_reviews(cfg)
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:
                job.remove()
                what = "review of sync" if job.id.startswith(REVIEW_JOB) else "sync"
                log_event(
                    log, logging.INFO, "unscheduled", f"{what} {job.name}: removed from the schedule", sync=job.name
                )

    def _schedule_reviews(self, cfg: Config) -> set[str]:
        """Add or update one review job per reviewed sync when ``[review] schedule`` is set; their ids."""
        schedule = cfg.review.schedule
        if schedule is None:
            return set()
        trigger = review_trigger(schedule)
        grace = int(max(MIN_GRACE_S, period_of(trigger)))
        ids = set()
        for name in cfg.reviewed_syncs():
            job_id = f"{REVIEW_JOB}{name}"
            ids.add(job_id)
            self.metrics.review_scheduled(name)
            if self.scheduler.get_job(job_id) is None:
                self.scheduler.add_job(
                    self.review_job,
                    trigger,
                    args=[name],
                    id=job_id,
                    name=name,
                    executor="review",
                    misfire_grace_time=grace,
                )
            else:
                self.scheduler.reschedule_job(job_id, trigger=trigger)
                self.scheduler.modify_job(job_id, misfire_grace_time=grace)
            log_event(
                log,
                logging.INFO,
                "review_scheduled",
                f"review of sync {name}: every {schedule}, reports to {cfg.resolve(cfg.review.reports_dir)}",
                sync=name,
            )
        return ids

    # ------------------------------------------------------------------ one run
    def run_job(self, name: str) -> None:
        """One scheduled run of ``name`` (called by APScheduler in a worker thread).

        The daemon's long-lived objects are frozen out of the collector's sight while runs
        last (``frozen_heap``: a process entry point's choice, not the library's)."""
        if self.stop.is_set():
            return
        with self._active_cv:
            self._active += 1
        try:
            with frozen_heap():
                self._run(name)
        except Exception as exc:
            log.exception("sync %s: run crashed: %s", name, exc)
            self.metrics.observe(name, "failed", {}, 0.0, None)
        finally:
            with self._active_cv:
                self._active -= 1
                self._active_cv.notify_all()
            if not self.stop.is_set():
                self.beat()  # the job's next fire time moved on

    def _run(self, name: str) -> None:
        service = self.service  # one config for the whole run, even if SIGHUP loads another meanwhile
        sync_cfg = service.cfg.syncs.get(name)
        if sync_cfg is None:
            return
        started = time.perf_counter()
        started_at = datetime.now(UTC)
        good = self.guard.current(service.cfg, sync_cfg, sync_cfg.engine)
        if good is None:
            edit = self.metrics.rejected_edit(name)
            why = f": {edit.problems[0]}" if edit and edit.problems else ""
            log_event(
                log,
                logging.ERROR,
                "run_not_started",
                f"sync {name}: not run: its rules have never passed check",
                sync=name,
            )
            service.record_not_started(name, f"not run: the sync's rules have never passed check{why}", started_at)
            self.metrics.observe(name, "failed", {}, 0.0, None)
            return
        try:
            planned = service.plan(name, checked=good, stop=self.stop)
        except CrmsegError as exc:  # recorded as a failed run by the service
            log_event(log, logging.ERROR, "run_failed", f"sync {name}: not run: {exc}", sync=name, status="failed")
            self.metrics.observe(name, "failed", {}, time.perf_counter() - started, None)
            return
        try:
            outcome = service.run(planned)
        except SyncLocked as exc:
            log_event(
                log, logging.INFO, "run_skipped", f"sync {name}: skipped: {exc}", sync=name, holder=exc.lease.holder
            )
            self.metrics.skipped.labels(name).inc()
            return
        except CrmsegError as exc:
            log_event(log, logging.ERROR, "run_failed", f"sync {name}: {exc}", sync=name, status="failed")
            self.metrics.observe(name, "failed", {}, time.perf_counter() - started, None)
            return
        report_run(outcome, self.metrics)

    # ------------------------------------------------------------------ one review
    def review_job(self, name: str) -> None:
        """One scheduled review of ``name`` (an APScheduler job on the review thread:
        :func:`~crmseg.daemon.review_job.run_review` with the config in use now)."""
        if self.stop.is_set():
            return
        with self._active_cv:
            self._active += 1
        try:
            run_review(name, self.service, self.stop, self.metrics)
        finally:
            with self._active_cv:
                self._active -= 1
                self._active_cv.notify_all()

    # ------------------------------------------------------------------ what other processes see
    def rules_live(self, sync: str, good: GoodRules) -> None:
        """RulesListener: ``good`` runs now; metrics, health and the state's rule status say so."""
        self.metrics.rules_live(sync, good.fingerprint, good.loaded_at)
        self._to_store(lambda store: store.put_rule_status(self._rule_status(sync, good, None)))

    def rules_rejected(self, edit: RejectedEdit) -> None:
        """RulesListener: an edit failed check; health is degraded and ``status`` shows it."""
        self.metrics.edit_rejected(edit)
        self._to_store(lambda store: store.put_rule_status(self._rule_status(edit.sync, None, edit)))

    def _rule_status(self, sync: str, good: GoodRules | None, edit: RejectedEdit | None) -> RuleStatus:
        live_fp = good.fingerprint if good else edit.kept_fingerprint if edit else None
        since = good.loaded_at if good else edit.kept_since if edit else None
        return RuleStatus(
            sync,
            live_fp,
            since,
            rejected_fingerprint=edit.fingerprint if edit else None,
            rejected_at=edit.at if edit else None,
            problems=[p.as_dict() for p in edit.problems] if edit else [],
            reporter=self.holder,
        )

    def beat(self) -> None:
        """Renew this daemon's schedule rows: each scheduled sync's next fire time, valid for SCHEDULE_TTL_S."""
        try:
            jobs = self.scheduler.get_jobs()
        except Exception:  # the scheduler is shutting down
            return
        next_runs = {  # the syncs' runs (``status`` shows them); reviews are not runs of a sync
            job.name: (job.next_run_time.astimezone(UTC).isoformat() if job.next_run_time else None)
            for job in jobs
            if not job.id.startswith(REVIEW_JOB)
        }
        host, pid = socket.gethostname(), os.getpid()
        self._to_store(lambda store: store.beat_schedule(self.holder, host, pid, next_runs, SCHEDULE_TTL_S))

    def _to_store(self, write: Callable[[StateStore], None]) -> None:
        """Write a report to the state store; a failure is logged (the next report tries again)."""
        from crmseg.state import open_state

        with self._store_lock:
            try:
                if self._store is None:
                    self._store = open_state(self.cfg)
                write(self._store)
            except Exception as exc:  # the store unreachable must not stop the schedule
                log_event(log, logging.WARNING, "report_failed", f"could not update the state store: {exc}")
                self._close_store()

    def _close_store(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            except Exception as exc:
                log.debug("closing the state store: %s", exc)
            self._store = None

    # ------------------------------------------------------------------ lifecycle
    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGHUP:
            self._hup.set()
            return
        if self.stop.is_set():
            os._exit(128 + signum)  # a second signal: at once
        self._signals.append(signum)
        self.stop.set()
        self.exit.set()

    def reload_config(self) -> None:
        """SIGHUP: re-read config.toml; a broken one is logged and the running one kept."""
        try:
            cfg = load_config(self.config_path)
            for sync_cfg in cfg.syncs.values():
                trigger_for(sync_cfg)
            if cfg.review.schedule is not None:
                review_trigger(cfg.review.schedule)
            service = SyncService(cfg)  # checks [alerts]' webhook URL
        except CrmsegError as exc:
            log_event(log, logging.ERROR, "config_rejected", f"config reload failed, keeping the running config: {exc}")
            return
        with self._store_lock:
            if cfg.state != self.cfg.state:  # the reports go where the runs now record
                self._close_store()
        self.service = service
        self.schedule(cfg)
        self.beat()
        log_event(log, logging.INFO, "config_reloaded", f"config {self.config_path} reloaded", syncs=list(cfg.syncs))

    def serve(self) -> int:
        """Run until a signal; the exit code."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        if self.metrics_port is not None:
            try:
                self.server = MetricsServer(self.metrics, self.metrics_host, self.metrics_port).start()
            except OSError as exc:
                raise ConfigError(
                    f"metrics port {self.metrics_host}:{self.metrics_port}: cannot listen: {exc.strerror or exc}"
                ) from None
            log_event(
                log,
                logging.INFO,
                "metrics",
                f"metrics on http://{self.server.host}:{self.server.port}/metrics and /healthz",
                host=self.server.host,
                port=self.server.port,
            )
        self.schedule(self.cfg)
        self.scheduler.start()
        log_event(
            log,
            logging.INFO,
            "started",
            f"crmseg daemon started with {len(self.cfg.syncs)} sync(s)",
            pid=os.getpid(),
            config=str(self.config_path),
        )
        self.beat()
        next_beat = time.monotonic() + HEARTBEAT_S
        while not self.exit.wait(0.2):
            if self._hup.is_set():
                self._hup.clear()
                self.reload_config()
            if time.monotonic() >= next_beat:
                self.beat()
                next_beat = time.monotonic() + HEARTBEAT_S
        return self._shutdown()

    def _shutdown(self) -> int:
        name = signal.Signals(self._signals[0]).name if self._signals else "stop"
        log_event(log, logging.INFO, "stopping", f"{name}: stopping; running syncs finish their current batch")
        self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + self.shutdown_timeout
        with self._active_cv:
            while self._active and time.monotonic() < deadline:
                self._active_cv.wait(timeout=0.2)
            late = self._active
        if self.server is not None:
            self.server.stop()
        self._to_store(lambda store: store.drop_schedule(self.holder))  # no next run once gone
        with self._store_lock:
            self._close_store()
        if late:
            log_event(
                log,
                logging.ERROR,
                "stopped",
                f"{late} sync run(s) still busy after {self.shutdown_timeout:.0f}s; "
                "exiting anyway (their runs are marked aborted by the next one)",
            )
            return 1
        log_event(log, logging.INFO, "stopped", "crmseg daemon stopped")
        return 0
