"""The state store interface and the plain records it hands out.

A store keeps, per sync:

- **runs**: one row per ``crmseg sync`` run (status, counts, API calls, watermarks, rules fingerprint);
- **sync state**: the watermark (and, for a CRM that tracks changes, the delta link) and the
  fingerprints of the last completed run, and the CRM the sync's state belongs to (its
  identity, recorded by its first run);
- **accounts**: a local copy of the CRM fields crmseg reads (the rules' inputs and the
  current tags), so rule edits and ``days_since`` rules re-evaluate without re-reading;
- **tags**: the value crmseg last wrote or confirmed per account and dimension;
- **transitions**: ``account, dimension, from, to, rule, run, at`` — appended in the same
  transaction that changes ``tags``, so each transition is logged exactly once — and whether
  it came from the account's first evaluation of the dimension (drift's initial load);
- **snapshots**: label counts per run and dimension (drift);
- **outbox**: tag writes sent to the CRM whose outcome is not recorded yet;
- **record errors**: failed records with attempt counts, permanent ones kept apart;
- **locks**: one lease per sync (holder, host, pid, expiry);
- **rule status**: the rules a daemon runs for the sync (fingerprint, since when) and an edit
  it rejected (fingerprint, when, problems with file, line and reason);
- **schedules**: per sync and daemon, its next fire time, under an expiry the daemon renews
  (a row past its expiry is a daemon that is gone);
- **deals**: one row per deal of a sync that reads them (``deals = true``), updated in place,
  with the deals' own watermark in the sync state (:mod:`crmseg.state.deals`).

Implementations: :mod:`crmseg.state.sqlite` (a file, WAL mode) and
:mod:`crmseg.state.postgres` (a server shared by several hosts); both run the SQL in
:mod:`crmseg.state.sql`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from crmseg.deals import Deal, FirstLabel, LabelMove
from crmseg.deals.table import DealRow
from crmseg.deals.timelines import RecordedRows

#: Run statuses, as the spec names them.
RUN_STATUSES = ("running", "succeeded", "partial", "failed", "aborted")
#: Count columns every run row carries.
COUNT_KEYS = ("read", "evaluated", "changed", "written", "failed", "pinned", "blocked", "api_calls")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    """A stored time stamp: ISO 8601 UTC with microseconds, so stamps sort as text."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class RunRow:
    """One run as recorded."""

    id: int
    sync: str
    started_at: str
    status: str
    mode: str = "incremental"
    finished_at: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    api_remaining: int | None = None
    watermark_before: str | None = None
    watermark_after: str | None = None
    rules_fingerprint: str | None = None
    message: str | None = None
    drift_alert: str | None = None
    holder: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "sync": self.sync,
            "status": self.status,
            "mode": self.mode,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
        out.update({k: self.counts.get(k, 0) for k in COUNT_KEYS})
        out.update(
            api_remaining=self.api_remaining,
            watermark_before=self.watermark_before,
            watermark_after=self.watermark_after,
            rules_fingerprint=self.rules_fingerprint,
            message=self.message,
            drift_alert=self.drift_alert,
        )
        return out


@dataclass(slots=True)
class SyncState:
    """What the last completed run left for the next one, and the CRM the state belongs to."""

    watermark: str | None = None
    rules_fingerprint: str | None = None
    read_fingerprint: str | None = None
    last_full_at: str | None = None
    #: ``kind:id`` of the CRM (or file) the local copy came from; None until a run records it.
    identity: str | None = None
    #: Where that CRM was (instance URL, UI domain), for messages only.
    identity_where: str | None = None
    #: Where the next incremental deal read starts (the deals' own watermark; None: a full read).
    deals_watermark: str | None = None
    #: Change tracking's link to the changes since the last completed run's read (None: not tracking).
    delta_link: str | None = None


class DimTag(NamedTuple):
    """One dimension's tag of one account, to write or to record."""

    crm_before: str | None  # the CRM's value before crmseg's write (or now, when nothing is written)
    value: str | None  # the tag crmseg sets or records (None: cleared)
    rule: str | None  # the rule that gave it (score rules joined by '+', or "(default)")


#: Dimension -> its tag.
Dims = dict[str, DimTag]


@dataclass(slots=True)
class Confirmed:
    """One account's tags the CRM now holds, to record (dimension -> ``DimTag``).

    ``crm_before`` is the value the CRM held before crmseg's write (or the value it holds,
    when nothing was written); ``fields`` are CRM field values to store in the local copy.
    """

    account: str
    dims: Dims
    fields: dict[str, Any] = field(default_factory=dict)
    #: False when the account still has writes to come in this run: its outbox/error rows stay.
    settles: bool = True


@dataclass(slots=True)
class PendingWrite:
    """An outbox entry: what a write batch was about to set on one account."""

    account: str
    run: int
    dims: Dims  # the tags the write sets (``DimTag.value``: the target)
    fields: dict[str, Any] = field(default_factory=dict)  # CRM field -> value sent


@dataclass(slots=True)
class RecordError:
    """A record the CRM refused, with the targets crmseg tried to set."""

    account: str
    error: str
    permanent: bool
    attempts: int = 1
    targets: dict[str, str | None] = field(default_factory=dict)
    first_run: int | None = None
    last_run: int | None = None
    at: str | None = None


@dataclass(slots=True)
class Transition:
    """One logged tag move."""

    account: str
    dimension: str
    from_value: str | None
    to_value: str | None
    rule: str | None
    run: int
    at: str
    #: Logged at the account's first evaluation of the dimension (no tag recorded for it before).
    first_eval: bool = False


class TagRecord(NamedTuple):
    """One recorded tag: its value, the rule that gave it and the run that recorded it."""

    account: str
    dimension: str
    value: str | None
    rule: str | None
    run: int


@dataclass(slots=True)
class Lease:
    """Who holds a sync's lock, and until when (ISO UTC)."""

    sync: str
    holder: str
    host: str
    pid: int
    acquired_at: str
    expires_at: str


@dataclass(slots=True)
class RuleStatus:
    """What a daemon reports about one sync's rules: the version it runs and an edit it rejected."""

    sync: str
    #: The rules fingerprint in use, and since when (ISO UTC); None before a version passed check.
    fingerprint: str | None
    since: str | None
    #: The rejected edit's fingerprint, when it was rejected and its problems
    #: (``{"file", "line", "reason"}`` each); None / empty while no edit is rejected.
    rejected_fingerprint: str | None = None
    rejected_at: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)
    #: The daemon that reported it (``host:pid:nonce``) and when.
    reporter: str = ""
    updated_at: str = ""


@dataclass(slots=True)
class ScheduleEntry:
    """One daemon's schedule of one sync: its next fire time, valid until ``expires_at``."""

    sync: str
    holder: str
    host: str
    pid: int
    next_run: str | None
    expires_at: str


@dataclass(slots=True)
class DealCounts:
    """A sync's deals in state: per status, and those with no account or an account crmseg never
    read (not in its local copy, present or gone)."""

    open: int = 0
    won: int = 0
    lost: int = 0
    no_account: int = 0
    unknown_account: int = 0

    @property
    def total(self) -> int:
        return self.open + self.won + self.lost

    def as_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "open": self.open,
            "won": self.won,
            "lost": self.lost,
            "no_account": self.no_account,
            "unknown_account": self.unknown_account,
        }


class LabelHistory(NamedTuple):
    """The inputs of :class:`crmseg.deals.TagHistory` from a sync's recorded history: per account and
    dimension the first recorded label (when known, see :meth:`StateStore.label_history`) and every
    logged transition, in log order."""

    first: list[FirstLabel]
    moves: list[LabelMove]


class StateStore(Protocol):
    """What the sync, status, drift and daemon code need from a state store."""

    def close(self) -> None: ...

    # -- leases
    def acquire_lease(
        self, sync: str, holder: str, host: str, pid: int, lease_s: float, take_over: bool = False
    ) -> Lease | None:
        """Take the sync's lock; None when taken, else the current holder's lease (not ours)."""

    def renew_lease(self, sync: str, holder: str, lease_s: float) -> bool: ...
    def release_lease(self, sync: str, holder: str) -> None: ...
    def lease(self, sync: str) -> Lease | None: ...

    # -- runs
    def begin_run(
        self,
        sync: str,
        mode: str,
        watermark_before: str | None,
        rules_fingerprint: str | None,
        holder: str,
        started_at: str,
    ) -> int: ...
    def finish_run(
        self,
        run_id: int,
        status: str,
        finished_at: str,
        counts: Mapping[str, int],
        watermark_after: str | None = None,
        message: str | None = None,
        api_remaining: int | None = None,
        drift_alert: str | None = None,
        mode: str | None = None,
    ) -> None:
        """Record the run's end; ``mode``: the run's mode when the run changed it (an
        incremental read that had to read in full), else the one it began with stays."""

    def abort_stale_runs(self, sync: str, finished_at: str, message: str) -> list[int]: ...
    def runs(self, sync: str, since: str | None = None, limit: int | None = None) -> list[RunRow]: ...
    def last_run(self, sync: str) -> RunRow | None: ...
    def run(self, run_id: int) -> RunRow | None:
        """One run by its id, whichever sync it belongs to; None when there is none."""

    def syncs(self) -> list[str]: ...

    # -- sync state
    def sync_state(self, sync: str) -> SyncState: ...
    def save_sync_state(self, sync: str, state: SyncState) -> None:
        """Store the watermark and fingerprints; the identity is left as it is (``bind_identity``)."""

    def bind_identity(self, sync: str, identity: str, where: str) -> None:
        """Record the CRM the sync's state belongs to (``CrmIdentity.key``, and where it was)."""

    def reset_sync(self, sync: str) -> dict[str, int]:
        """Forget what the sync knows of its CRM — local copy, recorded tags, outbox, record
        errors, watermark, fingerprints and identity — keeping its history (runs, transitions,
        snapshots). Rows deleted per table."""

    # -- local copy
    def upsert_accounts(self, sync: str, run: int, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> None: ...
    def iter_accounts(
        self, sync: str, ids: Iterable[str] | None = None, chunk: int = 5000
    ) -> Iterator[tuple[str, dict[str, Any]]]: ...
    def mark_absent(self, sync: str, run: int) -> int: ...
    def mark_removed(self, sync: str, ids: Sequence[str]) -> int:
        """Accounts the CRM reports deleted (change tracking) leave the population as ``mark_absent``
        has them leave it (history kept, pending outbox entries dropped); how many were present."""

    def account_count(self, sync: str) -> int: ...

    # -- tags, transitions, outbox, errors
    def recorded_tags(self, sync: str, ids: Sequence[str]) -> dict[str, dict[str, str | None]]: ...
    def tag_records(
        self, sync: str, ids: Sequence[str] | None = None, rule_prefix: str | None = None
    ) -> list[TagRecord]:
        """The recorded tags of ``ids`` (None: every account); with ``rule_prefix``, only those whose
        rule starts with it."""

    def put_outbox(self, sync: str, entries: Sequence[PendingWrite]) -> None: ...
    def outbox(self, sync: str) -> dict[str, PendingWrite]: ...
    def drop_outbox(self, sync: str, ids: Sequence[str]) -> None: ...
    def confirm(
        self, sync: str, run: int, at: str, items: Sequence[Confirmed], edit_rule: str = "(crm edit)"
    ) -> int: ...
    def record_failures(self, sync: str, run: int, at: str, errors: Sequence[RecordError]) -> None: ...
    def record_errors(self, sync: str) -> dict[str, RecordError]: ...
    def clear_errors(self, sync: str, ids: Sequence[str]) -> None: ...

    # -- drift
    def write_snapshot(self, sync: str, run: int, dimensions: Sequence[str]) -> dict[str, dict[str, int]]: ...
    def snapshots(self, sync: str, run_ids: Sequence[int]) -> dict[int, dict[str, dict[str, int]]]: ...
    def transitions(
        self, sync: str, since: str | None = None, run_ids: Sequence[int] | None = None, account: str | None = None
    ) -> list[Transition]:
        """The logged moves in log order, filtered by time, runs and one account when given."""

    # -- what a daemon reports (rules in use, schedule)
    def now(self) -> str:
        """The store's clock, ISO UTC (the one leases and schedule expiries are stamped with)."""

    def put_rule_status(self, status: RuleStatus) -> None: ...
    def rule_status(self, sync: str) -> RuleStatus | None: ...
    def beat_schedule(
        self, holder: str, host: str, pid: int, next_runs: Mapping[str, str | None], ttl_s: float
    ) -> None:
        """Replace ``holder``'s schedule rows (sync -> next fire time), valid for ``ttl_s`` seconds."""

    def drop_schedule(self, holder: str) -> None: ...

    # -- deals (crmseg.state.deals)
    def upsert_deals(self, sync: str, run: int, deals: Sequence[Deal]) -> None:
        """Insert or update each deal in place, marked seen by ``run``."""

    def drop_unseen_deals(self, sync: str, run: int) -> int:
        """After a complete full read: delete the deals ``run`` did not see (deleted in the CRM)."""

    def iter_deals(self, sync: str, chunk: int = 5000) -> Iterator[Deal]:
        """The sync's deals in id order, fetched ``chunk`` at a time."""

    def deal_counts(self, sync: str) -> DealCounts: ...
    def unknown_accounts(self, sync: str, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` not in the sync's local copy (accounts crmseg never read)."""

    def save_deals_watermark(self, sync: str, watermark: str | None) -> None: ...
    def label_history(self, sync: str, dimensions: Sequence[str] | None = None) -> LabelHistory:
        """The attribution's inputs from the recorded tags and transitions (every dimension, or those)."""

    def deal_rows(self, sync: str, chunk: int = 50_000) -> Iterator[list[DealRow]]:
        """The sync's deals in id order as plain rows, ``chunk`` at a time (a review's columns)."""

    def label_rows(
        self, sync: str, dimensions: Sequence[str] | None = None, chunk: int = 50_000
    ) -> Iterator[RecordedRows]:
        """The recorded transitions (with their place in the log) and tags, ``chunk`` rows at a time
        (a review's timelines: ``crmseg.deals.timelines``)."""

    def schedules(self, sync: str) -> list[ScheduleEntry]:
        """Every daemon's schedule row of ``sync``, expired ones included (compare with :meth:`now`)."""
