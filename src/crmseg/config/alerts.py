"""``[alerts]``: where crmseg posts an alert when a run fails or needs a person.

The webhook URL is a secret (Slack's incoming-webhook URLs carry their token in the path), so
the config names only the environment variable that holds it; the URL itself is read when a
sync or the daemon starts (:mod:`crmseg.alerts.webhook`) and never logged or stored.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ALERT_EVENTS", "AlertEventName", "AlertsConfig"]

AlertEventName = Literal["run_failed", "run_aborted", "guard_tripped", "drift_alert", "rules_rejected", "review_alert"]
#: Every event an ``[alerts]`` webhook receives (``events`` keeps a subset).
ALERT_EVENTS: tuple[AlertEventName, ...] = get_args(AlertEventName)


class AlertsConfig(BaseModel):
    """``[alerts]``: a webhook, its payload's shape and the events it receives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The environment variable holding the webhook URL (https://, or http:// to a loopback host).
    webhook_url_env: str = "CRMSEG_WEBHOOK_URL"
    #: ``json``: crmseg's own event object; ``slack``: Slack's incoming-webhook message (text + blocks).
    format: Literal["json", "slack"] = "json"
    #: The events sent (default: all of them).
    events: tuple[AlertEventName, ...] = Field(default=ALERT_EVENTS, min_length=1)
    #: Seconds to wait for the webhook's answer (one retry after a refused connection, a timeout or a 5xx/429).
    timeout_s: float = Field(default=5.0, gt=0, le=60)

    @field_validator("webhook_url_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not v or not v.replace("_", "A").isalnum() or not v.isascii() or v[0].isdigit():
            shown = "a URL" if "/" in v or ":" in v else repr(v)  # never echo a secret pasted here by mistake
            raise ValueError(
                f"must name an environment variable (e.g. CRMSEG_WEBHOOK_URL) that holds the URL; got {shown}"
            )
        return v
