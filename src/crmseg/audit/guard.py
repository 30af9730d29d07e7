"""The change guard: how many accounts' tags a run may change (pure functions).

A sync's ``max_changes`` is a number of accounts (``500``) or a share of the sync's accounts
(``"20%"``). The figure compared with it is the number of accounts whose tags the run would
write: mapped tag fields that differ from the CRM's values, pinned accounts and accounts blocked
by a permanent error left out (the sync's ``changed`` count). A share is of the sync's
accounts — every account of the local copy, which is what a full read evaluates — not of
the accounts an incremental run happens to read, so a share means the same in every run.

The run compares the two after evaluating and before its first write; over the limit it
writes nothing and ends ``aborted``. ``crmseg sync --allow-changes N`` replaces the limit by
``N`` accounts for one run. ``crmseg audit`` reports whether the guard would trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmseg.config import parse_max_changes
from crmseg.errors import CrmsegError


class ChangeGuardTripped(CrmsegError):
    """A run would change more accounts than ``max_changes`` (or ``--allow-changes``) allows; nothing was written."""

    exit_code = 1

    def __init__(self, message: str, check: GuardCheck | None = None) -> None:
        super().__init__(message)
        #: The figures that tripped the guard (alerts send them).
        self.check = check


@dataclass(frozen=True, slots=True)
class ChangeLimit:
    """A limit on the accounts one run changes: a count or a share, and where it comes from."""

    count: int | None = None
    share: float | None = None
    source: str = "max_changes"  # or "--allow-changes"
    text: str = ""  # as the user wrote it ("20%", "500")

    @classmethod
    def of(cls, max_changes: int | str | None, allow_changes: int | None = None) -> ChangeLimit | None:
        """The limit of one run: ``--allow-changes N`` when given, else the sync's ``max_changes``; None: no guard."""
        if allow_changes is not None:
            return cls(count=allow_changes, source="--allow-changes", text=f"{allow_changes:,}")
        if max_changes is None:
            return None
        count, share = parse_max_changes(max_changes)
        text = f"{count:,}" if count is not None else str(max_changes).strip()
        return cls(count=count, share=share, text=text)

    def allowed(self, accounts: int) -> int:
        """The most accounts a run over a sync of ``accounts`` accounts may change."""
        if self.count is not None:
            return self.count
        return int((self.share or 0.0) * accounts)  # "more than 20%" trips: 20% itself is allowed


@dataclass(frozen=True, slots=True)
class GuardCheck:
    """The guard's verdict on one run (or audit): the figures and whether it trips."""

    limit: ChangeLimit
    changes: int  # accounts the run would change
    accounts: int  # the sync's accounts (the base of a share)

    @property
    def allowed(self) -> int:
        return self.limit.allowed(self.accounts)

    @property
    def tripped(self) -> bool:
        return self.changes > self.allowed

    @property
    def figures(self) -> str:
        """``would change 612 of 1,000 accounts (61%)``."""
        share = self.changes / self.accounts if self.accounts else 0.0
        return f"would change {self.changes:,} of {self.accounts:,} accounts ({share:.0%})"

    def verdict(self) -> str:
        """``would change 612 of 1,000 accounts (61%), over max_changes = 20%`` (or ``within``)."""
        return f"{self.figures}, {'over' if self.tripped else 'within'} {self.limit.source} = {self.limit.text}"

    def message(self) -> str:
        """A run's line: the verdict, and when it trips, that nothing was written and what to do."""
        text = self.verdict()
        if self.tripped:
            text += (
                f"; nothing was written (if these changes are intended, let this run through with "
                f"`crmseg sync --allow-changes {self.changes}`)"
            )
        return text

    def to_json(self) -> dict[str, Any]:
        """The ``guard`` key of ``audit --json``."""
        return {
            "max_changes": self.limit.text,
            "source": self.limit.source,
            "would_change": self.changes,
            "accounts": self.accounts,
            "allowed": self.allowed,
            "tripped": self.tripped,
            "message": self.verdict(),
        }
