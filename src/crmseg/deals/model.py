"""The canonical deal (plain data, no I/O) and how its status is read from CRM values.

A deal's ``amount`` is in the CRM's home (corporate) currency; ``currency`` is the deal's own
currency code when the CRM keeps one. ``created_at`` is an aware UTC datetime; ``closed_at`` a
date — for a closed deal the day it closed, for an open one the expected close date when the
CRM keeps one (Salesforce ``CloseDate``): its ``status`` says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final, Literal, get_args

__all__ = ["DEAL_STATUSES", "Deal", "DealStatus", "FlagError", "parse_status", "status_from_flags"]

DealStatus = Literal["open", "won", "lost"]
DEAL_STATUSES: Final[tuple[DealStatus, ...]] = get_args(DealStatus)
_TRUE = frozenset(("true", "t", "yes", "y", "1"))
_FALSE = frozenset(("false", "f", "no", "n", "0"))


@dataclass(frozen=True, slots=True)
class Deal:
    """One deal (Salesforce Opportunity, HubSpot deal, a deals file's row) in canonical fields.

    ``extra``: the other mapped fields (canonical name -> converted value)."""

    id: str
    created_at: datetime
    status: DealStatus
    account_id: str | None = None
    amount: float | None = None
    currency: str | None = None
    closed_at: date | None = None
    stage: str | None = None
    pipeline: str | None = None
    type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a deal needs an id")
        if self.status not in DEAL_STATUSES:
            raise ValueError(f"deal {self.id}: status {self.status!r} is not one of {', '.join(DEAL_STATUSES)}")
        if isinstance(self.closed_at, datetime):  # a datetime is a date too: keep the day (UTC)
            object.__setattr__(self, "closed_at", _utc(self.closed_at).date())
        if self.created_at.tzinfo is not UTC:  # naive means UTC, as everywhere in crmseg (crmseg.dates)
            object.__setattr__(self, "created_at", _utc(self.created_at))

    @property
    def closed(self) -> bool:
        """Whether the deal is closed (won or lost)."""
        return self.status != "open"


def _utc(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


class FlagError(ValueError):
    """A status flag that is blank or not a boolean; ``flag`` says which one."""

    def __init__(self, flag: Literal["closed", "won"], problem: str) -> None:
        super().__init__(f"{flag}: {problem}")
        self.flag: Literal["closed", "won"] = flag
        self.problem = problem


def _flag(value: Any, name: Literal["closed", "won"]) -> bool | None:
    """A CRM boolean (a bool, or text like "true"/"false" as HubSpot sends it); None when blank."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise FlagError(name, f"not a boolean: {value!r}")


def status_from_flags(closed: Any, won: Any) -> DealStatus:
    """The status from a closed and a won flag: Salesforce ``IsClosed``/``IsWon`` (JSON booleans),
    HubSpot ``hs_is_closed``/``hs_is_closed_won`` (text "true"/"false").

    Won deals are closed ones, so a true won flag is ``won``; otherwise an open deal is ``open``
    (its won flag may be blank) and a closed one ``lost``. :class:`FlagError` for a value that is
    not a boolean, a blank closed flag, or a closed deal whose won flag is blank (won or lost unknown)."""
    is_won = _flag(won, "won")
    if is_won:
        return "won"
    is_closed = _flag(closed, "closed")
    if is_closed is None:
        raise FlagError("closed", "no value")
    if not is_closed:
        return "open"
    if is_won is None:
        raise FlagError("won", "no value for a closed deal")
    return "lost"


def parse_status(value: Any) -> DealStatus:
    """``open``, ``won`` or ``lost`` from text (any case, blanks stripped); ValueError otherwise."""
    text = value.strip().lower() if isinstance(value, str) else None
    for status in DEAL_STATUSES:
        if text == status:
            return status
    if not text:
        raise ValueError("no value")
    raise ValueError(f"status {value!r} is not one of {', '.join(DEAL_STATUSES)}")
