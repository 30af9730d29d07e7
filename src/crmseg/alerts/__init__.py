"""Alerts: crmseg's events that need a person (a failed or aborted run, a tripped change guard,
a drift alert, a rejected rule edit, a scheduled review's alerts), posted to the webhook of ``[alerts]``.

- :mod:`.events` — the event (plain data) and how a run's outcome becomes events;
- :mod:`.formats` — the payloads: crmseg's JSON event, Slack's incoming-webhook message;
- :mod:`.webhook` — the URL policy (``https://``, ``http://`` only to loopback; a secret, never
  logged) and delivery (one POST, a short timeout, one retry; a failure is a logged warning,
  never an error of the sync).
"""

from crmseg.alerts.events import AlertEvent, review_alert, rules_rejected, run_events
from crmseg.alerts.webhook import Alerts, send_alert

__all__ = ["AlertEvent", "Alerts", "review_alert", "rules_rejected", "run_events", "send_alert"]
