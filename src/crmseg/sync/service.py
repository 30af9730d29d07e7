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
  :class:`~crmseg.errors.CrmsegError` is raised, nothing was read or written;
- :meth:`PlannedRun.refuse_failing_tests`: a :class:`~crmseg.errors.RuleError` (exit 2) when
  an inline test fails, so such rules never write;
- another holder has the lease: :class:`~crmseg.sync.lease.SyncLocked` (exit 3);
- once the run has started, whatever happens ends in a recorded :class:`SyncOutcome`
  (``failed``, ``aborted``, ``partial`` or ``succeeded``) with its exit code.

Every default the run needs has one home: the changes file's name
(:data:`crmseg.config.CHANGES_FILE`), the lease (``[state] lease``), the engine (the sync's
``engine``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from crmseg.audit.plan import Plan, plan_config
from crmseg.config import Config, Mapping, SyncConfig
from crmseg.errors import RuleError
from crmseg.rules.alerts import RuleAlerts, plan_alerts
from crmseg.rules.engines import Engine, engine_kind
from crmseg.rules.model import RuleSet
from crmseg.sync.fingerprint import rules_fingerprint
from crmseg.sync.lease import hold_lease
from crmseg.sync.runner import RunProgress, SyncOptions, SyncOutcome, run_sync

__all__ = ["CheckedRules", "PlannedRun", "SyncService"]


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
        """``connector_options`` go to the connectors (tests and benchmarks: ``env``)."""
        self.cfg = cfg
        self.connector_options = connector_options

    def plan(
        self,
        name: str | None,
        *,
        engine: str | None = None,
        now: datetime | None = None,
        checked: CheckedRules | None = None,
    ) -> PlannedRun:
        """Plan a run of sync ``name`` (None: the config's only sync) with ``engine`` (default:
        the sync's) at ``now`` (default: now). Raises CrmsegError when it cannot run."""
        sync_cfg = self.cfg.sync(name)
        now = now or datetime.now(UTC)
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
                **self.connector_options,
            )
            plan.fingerprint = checked.fingerprint
            return PlannedRun(sync_cfg, plan)
        plan = plan_config(self.cfg, sync_cfg.name, engine, now, writes=True, **self.connector_options)
        try:
            source = plan.rules.source  # the bytes the rules were loaded from: fingerprinted, not read again
            plan.fingerprint = rules_fingerprint(source or plan.rules_dir, plan.mapping.path or None)
            return PlannedRun(sync_cfg, plan, plan_alerts(plan))
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
    ) -> SyncOutcome:
        """Run ``planned`` under the sync's lease and record it; closes ``planned``.

        ``full``: read every account; ``stop``: set it to stop after the current batch;
        ``tick``: progress (:class:`~crmseg.sync.runner.RunProgress`, as the counts move);
        ``allow_changes``: this run may change up to that many
        accounts, whatever the sync's ``max_changes`` says. Raises SyncLocked, or CrmsegError when the state
        store cannot be opened (the run did not start)."""
        from crmseg.state import open_state

        sync_cfg = planned.sync
        store = None
        try:
            store = open_state(self.cfg)
            with hold_lease(store, sync_cfg.name, self.cfg.state.lease_s) as holder:
                options = SyncOptions(
                    full=full, stop=stop or threading.Event(), tick=tick, holder=holder, allow_changes=allow_changes
                )
                return run_sync(planned.plan, sync_cfg, store, options, self.cfg.changes_file(sync_cfg))
        finally:
            planned.close()
            if store is not None:
                store.close()
