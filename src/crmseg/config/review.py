"""``[review]``: how ``crmseg review`` judges the segments (``../shared/spec/review.md``).

The table sits in config.toml beside the syncs, or alone in a TOML file given with
``crmseg review --review-config FILE`` when the review reads files instead of a sync. The
``customer`` expression is checked against the rules' dimensions when the review starts (it
needs the rules to know the names), not here.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["REPORT_FORMATS", "ReportFormat", "ReviewAlerts", "ReviewConfig"]

ReportFormat = Literal["json", "html", "csv", "markdown"]
#: The report files a scheduled review can write (``[review] reports``).
REPORT_FORMATS: tuple[ReportFormat, ...] = get_args(ReportFormat)


class ReviewAlerts(BaseModel):
    """``[review.alerts]``: what makes ``crmseg review`` exit 1 (a scheduled job pages on it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A sufficient label whose win rate fell against the compared period, its Benjamini–Hochberg
    #: adjusted ``p`` (over the dimension's labels) below ``alpha``.
    decaying: bool = True
    #: Adjacent tiers (or score bands) out of order, the adjusted ``p`` (over the ladder's adjacent
    #: pairs) below ``alpha``.
    out_of_order: bool = True
    #: The significance level of both alerts and of the trend flags.
    alpha: float = Field(default=0.05, gt=0, lt=1)


class ReviewConfig(BaseModel):
    """``[review]``: the review's settings; every key is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Rule-language condition over the dimensions saying an account is a customer
    #: (e.g. ``stage in ['Customer', 'Post-sale']``): logo churn counts accounts matching it at
    #: a period's start and not at its end. None: churn is not computed.
    customer: str | None = None
    #: Closed deals (won + lost) a label needs to be judged: below it a label is shown, never
    #: ranked, flagged or alerted on.
    min_closed: int = Field(default=20, ge=1)
    #: The month fiscal quarters start from (1 = January: calendar quarters).
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)
    #: The dimensions reviewed, in report order (default: every dimension of the rules, in their order).
    dimensions: tuple[str, ...] | None = None
    #: Label dimensions whose rule file's ``values`` list is a ladder, top first (tiers): calibrated.
    #: Default: the label dimensions with ``values`` whose name contains "tier".
    ordered: tuple[str, ...] | None = None
    #: The segment dimensions judged for viability. Default: the label dimensions whose name
    #: contains "segment" (as the audit's segment checks read them).
    segments: tuple[str, ...] | None = None
    #: A segment smaller than this share of the accounts and of the won amount is not viable.
    min_segment_size: float = Field(default=0.05, gt=0, lt=1)
    #: Accessible = an owner (this field set) ...
    owner_field: str = "owner"
    #: ... and activity (this datetime field) within ``activity_days`` of the period's end.
    activity_field: str = "last_activity_at"
    activity_days: int = Field(default=90, ge=1)
    #: The currency deal amounts are in. Needed when deals read from a file come in several
    #: currencies: a file's ``amount`` must already be converted to one home currency.
    home_currency: str | None = None
    alerts: ReviewAlerts = ReviewAlerts()
    #: ``crmseg daemon`` reviews on this schedule: an interval (``7d``, ``12h``) or a 5-field
    #: crontab in UTC (``0 6 * * 1``: Mondays at 06:00). None: the daemon runs no review.
    schedule: str | None = None
    #: The folder (relative to the config) a scheduled review writes its reports to.
    reports_dir: str = "reviews"
    #: The report files a scheduled review writes.
    reports: tuple[ReportFormat, ...] = Field(default=("json", "html"), min_length=1)
    #: The syncs a scheduled review covers (default: every sync that reads deals).
    syncs: tuple[str, ...] | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from apscheduler.triggers.cron import CronTrigger

        from crmseg.config import parse_interval  # (the package imports this module first)

        if parse_interval(v) is not None:
            return v.strip()
        try:
            CronTrigger.from_crontab(v, timezone="UTC")
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"{v!r} is neither an interval (30s, 15m, 12h, 7d) nor a 5-field crontab "
                f"(minute hour day month weekday, e.g. '0 6 * * 1'): {exc}"
            ) from None
        return v

    @field_validator("home_currency")
    @classmethod
    def _currency(cls, v: str | None) -> str | None:
        if v is not None and (len(v.strip()) != 3 or not v.strip().isalpha()):
            raise ValueError(f"{v!r} is not a currency code like 'USD' (ISO 4217: three letters)")
        return v.strip().upper() if v is not None else v

    @field_validator("customer")
    @classmethod
    def _customer(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("an empty expression; give a condition (e.g. stage == 'Customer') or leave it out")
        return v
