"""APScheduler triggers from the config, in UTC: a sync's ``cron`` or ``interval``, ``[review]
schedule``, and the seconds between two runs of a trigger. A bad cron is a
:class:`~crmseg.errors.ConfigError` naming the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crmseg.config import parse_interval
from crmseg.errors import ConfigError


def trigger_for(sync_cfg: Any) -> Any | None:
    """The sync's APScheduler trigger (cron wins over interval), or None when it has no schedule."""
    if sync_cfg.cron:
        try:
            return CronTrigger.from_crontab(sync_cfg.cron, timezone=UTC)
        except ValueError as exc:
            raise ConfigError(f"syncs.{sync_cfg.name}.cron {sync_cfg.cron!r}: {exc}") from None
    if sync_cfg.interval:
        return IntervalTrigger(seconds=parse_interval(sync_cfg.interval), timezone=UTC)
    return None


def review_trigger(schedule: str) -> Any:
    """``[review] schedule``'s trigger: an interval (``7d``) or a crontab in UTC."""
    seconds = parse_interval(schedule)
    if seconds is not None:
        return IntervalTrigger(seconds=seconds, timezone=UTC)
    try:
        return CronTrigger.from_crontab(schedule, timezone=UTC)
    except ValueError as exc:
        raise ConfigError(f"[review] schedule {schedule!r}: {exc}") from None


def period_of(trigger: Any) -> float:
    """Seconds between two runs (cron: between its next two fire times)."""
    if isinstance(trigger, IntervalTrigger):
        return trigger.interval.total_seconds()
    now = datetime.now(UTC)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    return (second - first).total_seconds() if first and second else 86400.0
