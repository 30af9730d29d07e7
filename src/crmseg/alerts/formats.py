"""The payloads an alert is posted as (pure functions).

- ``json``: :meth:`AlertEvent.to_json`, crmseg's own event object;
- ``slack``: a Slack incoming-webhook message, ``{"text": ..., "blocks": [...]}`` — ``text`` is
  the notification's fallback, ``blocks`` a header, the message, the run's figures as fields
  and the time. Slack's Block Kit limits are kept (header 150 characters, section text 3,000,
  at most 10 fields of 2,000), and ``&``, ``<``, ``>`` escaped, so a message can never ping a
  channel (``<!channel>``) or break the markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmseg.alerts.events import AlertEvent

__all__ = ["FORMATS", "json_payload", "slack_payload"]

HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000
FIELDS_MAX = 10
PROBLEMS_SHOWN = 10
COUNTS_SHOWN = ("read", "evaluated", "changed", "written", "failed")


def json_payload(event: AlertEvent) -> dict[str, Any]:
    """The generic JSON event."""
    return event.to_json()


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters as entities (its documented escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str, limit: int) -> dict[str, str]:
    # cut before escaping would let an entity push it over; cut after could split one: cut, escape, cut
    return {"type": "mrkdwn", "text": _cut(_escape(_cut(text, limit)), limit)}


def _fields(event: AlertEvent) -> list[dict[str, str]]:
    pairs: list[tuple[str, str]] = []
    if event.run_id is not None:
        pairs.append(("Run", f"{event.run_id} ({event.status})" if event.status else str(event.run_id)))
    guard = event.details.get("guard")
    if isinstance(guard, dict):
        pairs.append(("Would change", f"{guard.get('would_change', 0):,} of {guard.get('accounts', 0):,} accounts"))
        pairs.append(("Allowed", f"{guard.get('allowed', 0):,} ({guard.get('source')} = {guard.get('max_changes')})"))
    pairs.extend((name.capitalize(), f"{event.counts[name]:,}") for name in COUNTS_SHOWN if name in event.counts)
    return [_mrkdwn(f"*{label}*\n{value}", FIELD_MAX) for label, value in pairs[:FIELDS_MAX]]


def slack_payload(event: AlertEvent) -> dict[str, Any]:
    """A Slack incoming-webhook message: fallback ``text`` and Block Kit ``blocks``."""
    title = f"crmseg: {event.title} (sync {event.sync})"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, HEADER_MAX)}},
        {"type": "section", "text": _mrkdwn(event.message, SECTION_MAX)},
    ]
    fields = _fields(event)
    if fields:
        blocks.append({"type": "section", "fields": fields})
    # a rejected edit's problems, a review's alerts: one bullet each
    problems = [str(p) for p in event.details.get("problems", ()) or event.details.get("alerts", ())]
    if problems:
        shown = "\n".join(f"• {p}" for p in problems[:PROBLEMS_SHOWN])
        if len(problems) > PROBLEMS_SHOWN:
            shown += f"\n… and {len(problems) - PROBLEMS_SHOWN} more (the daemon's log has them all)"
        blocks.append({"type": "section", "text": _mrkdwn(shown, SECTION_MAX)})
    blocks.append({"type": "context", "elements": [_mrkdwn(f"{event.event} · {event.at}", FIELD_MAX)]})
    return {"text": _mrkdwn(f"{title}: {event.message}", SECTION_MAX)["text"], "blocks": blocks}


#: ``[alerts] format`` -> the payload builder.
FORMATS: dict[str, Callable[[AlertEvent], dict[str, Any]]] = {"json": json_payload, "slack": slack_payload}
