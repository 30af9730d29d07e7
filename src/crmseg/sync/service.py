"""One sync run, started the one way ``crmseg sync`` and the daemon both start it.

A :class:`SyncService` holds one loaded config: ``crmseg sync`` makes one per command, the
daemon one per version of its config (a new one after SIGHUP). A run has two steps:

1. :meth:`SyncService.plan` — nothing read from the CRM or written yet. The sync's rule files
   are read once (the rules, their dimension names and their fingerprint all come from the
   same bytes) and compiled once for the run's clock; the inline tests run on that compiled
   engine; the mapping is checked against the CRM. The daemon passes rules it loaded and
   checked already (:class:`CheckedRules`): they are neither read nor compiled again, the
   engine is only set to the run's clock.
2. :meth:`SyncService.run` — opens the state store, holds the sync's lease and runs
   :func:`crmseg.sync.runner.run_sync`, which records the run; closes what the run opened.

What goes wrong, and what the caller gets:

- before the run (config, rules, mapping against the CRM, state store): the
  :class:`~crmseg.errors.CrmsegError` is raised, nothing was read or written. A planned run
  that fails so (CRM unreachable, login refused, mapping check, rules) is still recorded in
  the state, as a ``failed`` run with mode ``none`` and the error's message
  (:meth:`SyncService.record_not_started`; ``aborted`` when a stop request cut a retry wait
  short), so ``status`` shows it — for ``crmseg sync`` and the daemon alike;
- :meth:`PlannedRun.refuse_failing_tests`: a :class:`~crmseg.errors.RuleError` (exit 2) when
  an inline test fails, so such rules never write;
- another holder has the lease: :class:`~crmseg.sync.lease.SyncLocked` (exit 3);
- once the run has started, whatever happens ends in a recorded :class:`SyncOutcome`
  (``failed``, ``aborted``, ``partial`` or ``succeeded``) with its exit code.

Alerts (``[alerts]``, :mod:`crmseg.alerts`) go out from here, so ``crmseg sync`` and the
daemon send the same ones: a run that failed or was aborted (the change guard's with its
figures; not a run stopped on request: a signal, a daemon shutting down), a drift alert, and a
run that could not start (any error of :meth:`SyncService.plan` or :meth:`SyncService.run` but
:class:`~crmseg.sync.lease.SyncLocked`). They are sent after the lease is released; a
delivery failure is a logged warning and changes no outcome.

Every default the run needs has one home: the changes file's name
(:data:`crmseg.config.CHANGES_FILE`), the lease (``[state] lease``), the engine (the sync's
``engine``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from crmseg.alerts import AlertEvent, Alerts, run_events
from crmseg.audit.guard import ChangeGuardTripped
from crmseg.audit.plan import Plan, plan_config
from crmseg.config import Config, Mapping, SyncConfig
from crmseg.errors import CrmsegError, RuleError, StopRequested
from crmseg.rules.alerts import RuleAlerts, plan_alerts
from crmseg.rules.engines import Engine, engine_kind
from crmseg.rules.model import RuleSet
from crmseg.sync.fingerprint import rules_fingerprint
from crmseg.sync.lease import SyncLocked, hold_lease, holder_id
from crmseg.sync.outcome import RunProgress, SyncOptions, SyncOutcome
from crmseg.sync.runner import run_sync
from crmseg.sync.undo import UndoPlan, UndoRefused, check_undo_target
from crmseg.sync.undo_run import UndoRun, undo_plan

__all__ = ["NOT_READ", "CheckedRules", "PlannedRun", "SyncService"]

log = logging.getLogger(__name__)

#: The mode recorded for a run that ended before reading anything.
NOT_READ = "none"


@dataclass(frozen=True)
class CheckedRules:
    """A mapping and rule set that passed check (inline tests included), the fingerprint of
    the files they came from, and the rules compiled once (each run sets its own clock)."""

    mapping: Mapping
    rules: RuleSet
    fingerprint: str
    engine: Engine


@dataclass
class PlannedRun:
    """A run ready to start: nothing read from the CRM or written yet. ``close`` it (or use it
    in a ``with``) if it does not go to :meth:`SyncService.run`."""

    sync: SyncConfig
    plan: Plan
    #: Failed inline tests and lints of rules read for this run; None for rules checked when loaded.
    alerts: RuleAlerts | None = None
    #: The run's stop event: set, the run stops after its current batch and the connector's
    #: waits (retry back-off) end at once.
    stop: threading.Event = field(default_factory=threading.Event)
    _closed: bool = field(default=False, init=False, repr=False)

    def refuse_failing_tests(self) -> None:
        """RuleError (exit 2; nothing read or written) when an inline test of the rules fails."""
        if self.alerts is None or not self.alerts.failed_tests:
            return
        failed, rules_dir = self.alerts.failed_tests, self.plan.rules_dir
        refused = (
            f"sync refused: {len(failed)} of {self.alerts.tests_run} inline rule test(s) fail in {rules_dir}; "
            f"nothing was read or written (run `crmseg rules check --rules {rules_dir}`)"
        )
        raise RuleError([*failed, refused])

    def close(self) -> None:
        """Close the plan's connector and engine (once; closing again does nothing)."""
        if not self._closed:
            self._closed = True
            self.plan.close()

    def __enter__(self) -> PlannedRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SyncService:
    """Plans and runs the syncs of one loaded config (see the module's documentation)."""

    def __init__(self, cfg: Config, **connector_options: Any) -> None:
        """``connector_options`` go to the connectors (tests and benchmarks: ``env``). ConfigError
        when ``[alerts]`` names an unset variable or a webhook URL the policy refuses."""
        self.cfg = cfg
        self.connector_options = connector_options
        self.alerts = Alerts.from_config(cfg.alerts)

    def plan(
        self,
        name: str | None,
        *,
        engine: str | None = None,
        now: datetime | None = None,
        checked: CheckedRules | None = None,
        stop: threading.Event | None = None,
    ) -> PlannedRun:
        """Plan a run of sync ``name`` (None: the config's only sync) with ``engine`` (default:
        the sync's) at ``now`` (default: now); ``stop``: the run's stop event (see
        :attr:`PlannedRun.stop`). Raises CrmsegError when it cannot run, having recorded the
        run as failed (:meth:`record_not_started`) and alerted."""
        sync_cfg = self.cfg.sync(name)
        started = datetime.now(UTC)
        stop = stop or threading.Event()
        try:
            return self._plan(sync_cfg, engine, now or started, checked, stop)
        except CrmsegError as exc:
            run_id = self.record_not_started(sync_cfg.name, exc, started)
            self._alert_not_run(sync_cfg.name, exc, run_id)
            raise

    def _plan(
        self,
        sync_cfg: SyncConfig,
        engine: str | None,
        now: datetime,
        checked: CheckedRules | None,
        stop: threading.Event,
    ) -> PlannedRun:
        if checked is not None:
            same = checked.engine.name == engine_kind(engine or sync_cfg.engine)
            plan = plan_config(
                self.cfg,
                sync_cfg.name,
                engine,
                now,
                writes=True,
                prepared=(checked.mapping, checked.rules),
                compiled=checked.engine.at(now) if same else None,
                stop=stop,
                **self.connector_options,
            )
            plan.fingerprint = checked.fingerprint
            return PlannedRun(sync_cfg, plan, stop=stop)
        plan = plan_config(self.cfg, sync_cfg.name, engine, now, writes=True, stop=stop, **self.connector_options)
        try:
            source = plan.rules.source  # the bytes the rules were loaded from: fingerprinted, not read again
            plan.fingerprint = rules_fingerprint(source or plan.rules_dir, plan.mapping.path or None)
            return PlannedRun(sync_cfg, plan, plan_alerts(plan), stop=stop)
        except BaseException:
            plan.close()
            raise

    def run(
        self,
        planned: PlannedRun,
        *,
        full: bool = False,
        stop: threading.Event | None = None,
        tick: Callable[[RunProgress], None] | None = None,
        allow_changes: int | None = None,
        undo: int | None = None,
        force: bool = False,
    ) -> SyncOutcome:
        """Run ``planned`` under the sync's lease and record it; closes ``planned``.

        ``full``: read every account; ``stop``: set it to stop after the current batch (default:
        the plan's, which also cuts the connector's retry waits short);
        ``tick``: progress (:class:`~crmseg.sync.outcome.RunProgress`, as the counts move);
        ``allow_changes``: this run may change up to that many
        accounts, whatever the sync's ``max_changes`` says; ``undo``: instead of applying the rules,
        put back the values run ``undo`` replaced (``force``: also those changed again since;
        :mod:`crmseg.sync.undo`). Raises SyncLocked, UndoRefused, or CrmsegError when the state
        store cannot be opened (the run did not start)."""
        from crmseg.state import open_state

        sync_cfg = planned.sync
        store = None
        try:
            store = open_state(self.cfg)
            if undo is not None:
                check_undo_target(store, sync_cfg.name, undo)  # refused before the lease: nothing recorded
            with hold_lease(store, sync_cfg.name, self.cfg.state.lease_s) as holder:
                options = SyncOptions(
                    full=full, stop=stop or planned.stop, tick=tick, holder=holder, allow_changes=allow_changes
                )
                changes = self.cfg.changes_file(sync_cfg)
                if undo is not None:
                    outcome = UndoRun(planned.plan, sync_cfg, store, options, undo, force, changes).execute()
                else:
                    outcome = run_sync(planned.plan, sync_cfg, store, options, changes)
        except CrmsegError as exc:
            # another run holds the sync (it is running) or the undo was refused (a usage error,
            # nothing started): neither is an alert
            if not isinstance(exc, SyncLocked | UndoRefused):
                self._alert_not_run(sync_cfg.name, exc)
            raise
        finally:
            planned.close()
            if store is not None:
                store.close()
        self._alert(outcome)
        return outcome

    def preview_undo(self, planned: PlannedRun, undo: int, force: bool = False) -> UndoPlan:
        """What ``run(planned, undo=undo, force=force)`` would restore and leave; writes nothing,
        takes no lease; closes ``planned``. UndoRefused (exit 2) as the undo itself would be."""
        from crmseg.state import open_state

        store = None
        try:
            store = open_state(self.cfg)
            check_undo_target(store, planned.sync.name, undo)
            return undo_plan(store, planned.sync.name, undo, planned.plan.normalizer, force)
        finally:
            planned.close()
            if store is not None:
                store.close()

    # ------------------------------------------------------------------ alerts
    def _alert(self, out: SyncOutcome) -> None:
        """The alerts of a run's outcome (none without ``[alerts]``). A run stopped on request
        is none: someone asked for it, and a shutting-down daemon should not wait on a webhook."""
        if self.alerts is None or isinstance(out.error, StopRequested):
            return
        guard = out.error.check if isinstance(out.error, ChangeGuardTripped) else None
        for event in run_events(
            out.sync,
            out.run_id,
            out.status,
            out.message,
            out.counts,
            drift=out.drift_alert,
            guard=guard.to_json() if guard is not None else None,
        ):
            self.alerts.send(event)

    def _alert_not_run(self, sync: str, exc: CrmsegError, run_id: int | None = None) -> None:
        """``run_failed`` for a run that ended before reading (nothing read or written; ``run_id``:
        the failed run recorded for it, if any). A stop request is none, as for :meth:`_alert`."""
        if self.alerts is not None and not isinstance(exc, StopRequested):
            self.alerts.send(AlertEvent("run_failed", sync, f"not run: {exc}", run_id=run_id, status="failed"))

    def record_not_started(self, sync: str, error: BaseException | str, started_at: datetime) -> int | None:
        """Record a run of ``sync`` that ended before reading: ``failed`` with the error's message
        (``aborted`` for a stop request), mode :data:`NOT_READ`, no counts. The run's id, or None
        when the state store cannot be opened (logged; the error itself is the caller's to report)."""
        from crmseg.state import open_state
        from crmseg.state.store import iso

        status = "aborted" if isinstance(error, StopRequested) else "failed"
        message = str(error) or type(error).__name__
        try:
            store = open_state(self.cfg)
        except CrmsegError as exc:
            log.warning("sync %s: the failed run could not be recorded: %s", sync, exc)
            return None
        try:
            run = store.begin_run(sync, NOT_READ, None, None, holder_id(), iso(started_at))
            store.finish_run(run, status, iso(datetime.now(UTC)), {}, message=message)
            return run
        except Exception as exc:  # a store failing here must not hide the run's own error
            log.warning("sync %s: the failed run could not be recorded: %s", sync, exc)
            return None
        finally:
            store.close()
