"""An alert event (plain data, no I/O) and the events one run's outcome raises.

Its JSON (the ``json`` format, and the facts Slack's message shows) is
``{"event", "sync", "run_id", "status", "message", "counts", "at"}`` plus, by event,
``guard`` (the change guard's figures), ``drift`` (the drift alert's text) or ``rules`` and
``problems`` (a rejected rule edit), or ``period``, ``alerts`` and ``reports`` (a scheduled
review's alerts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crmseg.config.alerts import AlertEventName

__all__ = ["TITLES", "AlertEvent", "review_alert", "rules_rejected", "run_events"]

#: A short title per event (Slack's header, the text of a notification).
TITLES: dict[str, str] = {
    "run_failed": "Sync run failed",
    "run_aborted": "Sync run aborted",
    "guard_tripped": "Change guard tripped: nothing was written",
    "drift_alert": "Segment drift alert",
    "rules_rejected": "Rule edit rejected",
    "review_alert": "Segment review alert",
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class AlertEvent:
    """One alert: what happened (``event``), to which sync and run, and its facts."""

    event: AlertEventName
    sync: str
    message: str
    run_id: int | None = None  # None: no run was recorded (a rejected rule edit, a run that could not start)
    status: str | None = None  # the run's status: failed, aborted, succeeded, partial
    counts: Mapping[str, int] = field(default_factory=dict)
    at: str = field(default_factory=_now)
    #: The event's own keys: ``guard``, ``drift``, ``rules`` / ``problems``, ``period`` / ``alerts`` / ``reports``.
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return TITLES[self.event]

    def to_json(self) -> dict[str, Any]:
        """The generic JSON event (``[alerts] format = "json"``)."""
        return {
            "event": self.event,
            "sync": self.sync,
            "run_id": self.run_id,
            "status": self.status,
            "message": self.message,
            "counts": dict(self.counts),
            "at": self.at,
            **self.details,
        }


def run_events(
    sync: str,
    run_id: int | None,
    status: str,
    message: str | None,
    counts: Mapping[str, int],
    *,
    drift: str | None = None,
    guard: Mapping[str, Any] | None = None,
) -> list[AlertEvent]:
    """The events a run that ended ``status`` raises: ``guard_tripped`` (a run the change guard
    aborted, with its figures; not also ``run_aborted``), ``run_aborted``, ``run_failed``, and
    ``drift_alert`` when the run found one. A succeeded or partial run without drift raises none."""
    events: list[AlertEvent] = []
    text = message or status
    if status == "aborted" and guard is not None:
        events.append(AlertEvent("guard_tripped", sync, text, run_id, status, counts, details={"guard": dict(guard)}))
    elif status == "aborted":
        events.append(AlertEvent("run_aborted", sync, text, run_id, status, counts))
    elif status == "failed":
        events.append(AlertEvent("run_failed", sync, text, run_id, status, counts))
    if drift:
        events.append(
            AlertEvent("drift_alert", sync, f"drift alert: {drift}", run_id, status, counts, details={"drift": drift})
        )
    return events


def rules_rejected(sync: str, rules_dir: str, problems: Sequence[str], kept: str) -> AlertEvent:
    """A daemon's rejected rule or mapping edit: the problems (file, line, reason) and what runs meanwhile."""
    return AlertEvent(
        "rules_rejected",
        sync,
        f"rules in {rules_dir} do not pass check; {kept}",
        details={"rules": rules_dir, "problems": list(problems)},
    )


def review_alert(sync: str, period: Mapping[str, str], alerts: Sequence[str], reports: Sequence[str]) -> AlertEvent:
    """A scheduled review of ``sync`` over ``period`` (``{"start", "end"}``) raised ``alerts``
    (a decaying label, tiers out of order); ``reports``: the files it wrote."""
    n = len(alerts)
    return AlertEvent(
        "review_alert",
        sync,
        f"the review of {period['start']} to {period['end']} raised {n} alert{'s' if n != 1 else ''}: {alerts[0]}"
        + (f" (and {n - 1} more)" if n > 1 else ""),
        details={"period": dict(period), "alerts": list(alerts), "reports": list(reports)},
    )
