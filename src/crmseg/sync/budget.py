"""The API budget: keep a reserve of the CRM's daily allowance for everything else.

``api_reserve`` on a sync is a number of calls (``5000``) or a share of the daily allowance
(``"10%"``, the default ``"5%"``). The allowance comes from the CRM's own headers
(Salesforce ``Sforce-Limit-Info``, HubSpot ``X-HubSpot-RateLimit-Daily(-Remaining)``), read
through the connector's :class:`~crmseg.connectors.base.ApiLimits` capability (files have
none, so a file sync never stops for it). A run that would dip into the reserve stops
between batches with status ``aborted``.
"""

from __future__ import annotations

from crmseg.config import parse_reserve
from crmseg.connectors.base import ApiLimits
from crmseg.errors import CrmsegError


class BudgetExhausted(CrmsegError):
    """The next calls would use the reserved part of the daily API allowance."""

    exit_code = 1


class Budget:
    """Checks the connector's remaining daily calls against the reserve."""

    def __init__(self, limits: ApiLimits | None, reserve: int | str | None = None) -> None:
        self.limits = limits
        self.calls, self.share = parse_reserve(reserve)

    def remaining(self) -> tuple[int, int] | None:
        """(left, allowance) as the CRM last reported, or None (files, or no header seen)."""
        return self.limits.api_remaining if self.limits is not None else None

    def reserve_of(self, allowance: int) -> int:
        return self.calls or int(allowance * self.share)

    def check(self, next_calls: int, doing: str) -> None:
        """Raise BudgetExhausted when ``next_calls`` more would cross the reserve."""
        left = self.remaining()
        if left is None:
            return
        remaining, allowance = left
        reserve = self.reserve_of(allowance)
        if remaining - next_calls < reserve:
            raise BudgetExhausted(
                f"stopped before {doing}: {remaining:,} API calls left of {allowance:,} today and "
                f"{reserve:,} are reserved (api_reserve); the rest is written on the next run"
            )
