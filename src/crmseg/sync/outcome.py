"""What a sync run takes and gives back: its options, its progress as it goes and how it ended
(the run itself: :mod:`crmseg.sync.runner`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from crmseg.errors import CrmsegError
from crmseg.sync.deals_step import DealsRead
from crmseg.sync.undo import UndoPlan


@dataclass(frozen=True)
class RunProgress:
    """Where a run is, for a progress display: its phase and the counts so far.

    ``phase``: ``read`` (reading into the local copy), ``guard`` (counting the changes for the
    change guard; ``checked`` accounts so far), ``evaluate`` (evaluating; writes go out in
    batches meanwhile) or ``done`` (the last write answered)."""

    phase: str
    read: int
    evaluated: int
    written: int
    failed: int
    checked: int = 0

    @property
    def count(self) -> int:
        """The phase's own counter: accounts read, checked or evaluated."""
        return {"read": self.read, "guard": self.checked}.get(self.phase, self.evaluated)


@dataclass
class SyncOptions:
    full: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    #: Progress: after each chunk read, checked or evaluated and after each write batch.
    tick: Callable[[RunProgress], None] | None = None
    holder: str = ""
    #: ``--allow-changes N``: this run may change up to N accounts, whatever ``max_changes`` says.
    allow_changes: int | None = None


@dataclass
class SyncOutcome:
    run_id: int
    sync: str
    status: str
    mode: str
    counts: dict[str, int]
    started_at: str
    duration_s: float
    message: str | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)
    blocked: list[tuple[str, str]] = field(default_factory=list)
    watermark_before: str | None = None
    watermark_after: str | None = None
    api_remaining: tuple[int, int] | None = None
    changes_file: str | None = None
    reevaluated_all: bool = False
    drift_alert: str | None = None
    error: CrmsegError | None = None
    #: Input rows a file sync left out (``skip_bad_rows = true``), as ``file:line: problem``.
    skipped_rows: list[str] = field(default_factory=list)
    #: Accounts whose tags an undo restored and this run held (the rules would change them again).
    held: int = 0
    held_note: str | None = None
    #: An undo run's plan: what it restored and what it left (``crmseg sync --undo``).
    undo: UndoPlan | None = None
    #: What the deal step read (a sync with ``deals``), None otherwise.
    deals: DealsRead | None = None
    #: Accounts change tracking reported deleted in the CRM, out of the population now.
    removed: int = 0

    @property
    def exit_code(self) -> int:
        if self.status == "succeeded":
            return 0
        if self.error is not None:
            return self.error.exit_code
        return 1
