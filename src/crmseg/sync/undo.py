"""``crmseg sync --undo RUN``: what to put back, what to leave, and the holds that follow.

**What is restored.** Every tag move run RUN logged that crmseg made (transitions whose rule
is not ``(crm edit)`` or ``(pinned)``) is undone by writing back the value the account held
before RUN — where no later run changed that tag again (the recorded tag is still the one RUN
set, and the run that recorded it is RUN or older). The others are listed with their value
now and the later run that changed them, and left as they are unless ``--force``. Accounts
pinned now are never written (the pin means crmseg keeps its hands off). The undo is a run
of its own: mode ``undo``, its writes go through the outbox like any run's, and each restored
value logs a transition ``now -> before`` with the rule ``undo:RUN``.

**Holds.** An undo is followed by the rules that did the damage: run as they are, the next run
would write RUN's values again. So a value an undo restored is *held*: while the live rules
(rules + mapping fingerprint) are still those RUN ran with, ordinary runs leave that tag as
it is and say how many they held. Any rule or mapping edit ends the holds (the next run applies
the edited rules); so does an edit of the tag in the CRM, recorded as ``(crm edit)``. The hold
needs no table of its own: it is the recorded tag whose rule is ``undo:RUN``, against the
fingerprint recorded on run RUN.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crmseg.config import Config, SyncConfig
from crmseg.errors import ConfigError
from crmseg.state.store import RunRow, StateStore, TagRecord, Transition, iso
from crmseg.state.transitions import EDIT_RULE, PINNED_RULE
from crmseg.sync.lease import lease_live

#: The rule logged with a restored value: ``undo:RUN``.
UNDO_PREFIX = "undo:"
_UNDO_RULE = re.compile(r"undo:(\d+)")


class UndoRefused(ConfigError):
    """The run asked for cannot be undone (unknown, of another sync, still running, changed
    nothing); nothing was written and no run recorded."""


def undo_rule(run: int) -> str:
    return f"{UNDO_PREFIX}{run}"


def undone_run(rule: str | None) -> int | None:
    """The run an ``undo:RUN`` rule undid; None for any other rule."""
    hit = _UNDO_RULE.fullmatch(rule or "")
    return int(hit.group(1)) if hit else None


@dataclass(frozen=True, slots=True)
class Restore:
    """One tag to put back: its value now and the value it held before the undone run."""

    account: str
    dimension: str
    now: str | None
    before: str | None
    #: The later run that changed it again (a ``--force``d restore); None when untouched since.
    later_run: int | None = None


@dataclass(frozen=True, slots=True)
class Left:
    """One tag the undo leaves as it is, and why."""

    account: str
    dimension: str
    now: str | None
    before: str | None
    later_run: int | None  # the run that changed it again; None for the other reasons
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "dimension": self.dimension,
            "now": self.now,
            "before": self.before,
            "later_run": self.later_run,
            "reason": self.reason,
        }


@dataclass(slots=True)
class UndoPlan:
    """What an undo of ``run`` writes back and what it leaves."""

    run: int
    restore: list[Restore] = field(default_factory=list)
    left: list[Left] = field(default_factory=list)
    #: The rules fingerprint recorded on the undone run (the holds are against it).
    fingerprint: str | None = None

    def hold_note(self, live: str | None) -> str:
        """What the next ordinary run does with the restored values, given the live rules' fingerprint."""
        if live is not None and live == self.fingerprint:
            return (
                f"the restored values are held: ordinary runs leave them while the rules are the ones run "
                f"{self.run} used (fingerprint {live}); fix the rules that made run {self.run} wrong, "
                "and the next run applies the fixed rules"
            )
        return (
            f"the rules changed since run {self.run} (fingerprint {self.fingerprint or '-'} -> {live or '-'}): "
            "the next run applies the current rules to these accounts (`crmseg audit` shows what it would write)"
        )

    @property
    def accounts(self) -> list[str]:
        """The accounts with something to restore, in order."""
        return list(dict.fromkeys(r.account for r in self.restore))

    def by_account(self) -> dict[str, list[Restore]]:
        out: dict[str, list[Restore]] = {}
        for r in self.restore:
            out.setdefault(r.account, []).append(r)
        return out


def check_undo_target(store: StateStore, sync: str, run_id: int) -> RunRow:
    """The run to undo, or UndoRefused (exit 2) naming the run: unknown, of another sync, still
    running (its lease is held), or a run that changed no tag."""
    row = store.run(run_id)
    if row is None:
        raise UndoRefused(f"cannot undo run {run_id}: no such run in the state of sync '{sync}'; nothing was written")
    if row.sync != sync:
        raise UndoRefused(
            f"cannot undo run {run_id}: it is a run of sync '{row.sync}', not '{sync}' "
            f"(use --sync {row.sync}); nothing was written"
        )
    if row.status == "running" and lease_live(store.lease(sync), iso(datetime.now(UTC))):
        raise UndoRefused(
            f"cannot undo run {run_id}: it is still running; wait for it to end, then undo it; nothing was written"
        )
    if not any(_crmseg_move(t) for t in store.transitions(sync, run_ids=[run_id])):
        raise UndoRefused(f"cannot undo run {run_id}: it changed no tag, so there is nothing to put back")
    return row


def plan_undo(
    run: int,
    moves: Sequence[Transition],
    records: Sequence[TagRecord],
    pinned: Collection[str],
    force: bool = False,
) -> UndoPlan:
    """Which of run ``run``'s tag moves (``moves``: its transitions in log order) to put back.

    ``records``: the recorded tags now of the accounts concerned; ``pinned``: the accounts
    pinned now. A tag changed again by a later run is restored only with ``force``."""
    first: dict[tuple[str, str], Transition] = {}
    last: dict[tuple[str, str], Transition] = {}
    for t in moves:
        if t.run == run and _crmseg_move(t):
            first.setdefault((t.account, t.dimension), t)
            last[(t.account, t.dimension)] = t
    now = {(r.account, r.dimension): r for r in records}
    plan = UndoPlan(run)
    for key, t in first.items():
        account, dim = key
        before, after = t.from_value, last[key].to_value
        rec = now.get(key)
        if rec is None:  # the state was reset since: crmseg no longer knows this tag
            plan.left.append(Left(account, dim, None, before, None, "no recorded tag (the state was reset since)"))
            continue
        later = None if rec.value == after and rec.run <= run else rec.run
        if rec.value == before:
            continue  # already back where it was
        if account in pinned:
            plan.left.append(Left(account, dim, rec.value, before, later, "pinned"))
        elif later is None or force:
            plan.restore.append(Restore(account, dim, rec.value, before, later))
        else:
            plan.left.append(Left(account, dim, rec.value, before, later, f"changed again by run {later}"))
    return plan


def _crmseg_move(t: Transition) -> bool:
    """A move crmseg made (a rule's value, or an undo's), not a CRM edit it recorded."""
    return t.rule not in (EDIT_RULE, PINNED_RULE)


def typed_value(text: str | None, kind: str | None) -> Any:
    """A restored tag as the CRM takes it: a score's text as a number (``"42"`` -> 42,
    ``"7.5"`` -> 7.5), a label as text, no value as None (the connector clears the field)."""
    if text is None or kind != "score":
        return text
    try:
        number = float(text)
    except ValueError:
        return text  # not a number after all: written as recorded
    return int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", text) else number


# ------------------------------------------------------------------ holds
@dataclass(frozen=True, slots=True)
class Holds:
    """The tags ordinary runs leave as an undo restored them (see the module's documentation)."""

    #: account -> held dimensions
    dims: Mapping[str, frozenset[str]]
    #: the undone runs whose holds are in force
    undone: tuple[int, ...] = ()

    @property
    def values(self) -> int:
        return sum(len(d) for d in self.dims.values())

    def to_json(self) -> dict[str, Any]:
        """``status --json``'s ``undo_holds``."""
        return {"accounts": len(self.dims), "values": self.values, "undone_runs": list(self.undone)}


def active_holds(store: StateStore, sync: str, fingerprint: str | None) -> Holds:
    """The holds in force for a run with the rules ``fingerprint``: restored values whose undone
    run ran with those same rules."""
    records = store.tag_records(sync, rule_prefix=UNDO_PREFIX)
    if not records or fingerprint is None:
        return Holds({})
    ran_with = {r.id: r.rules_fingerprint for r in store.runs(sync)}
    dims: dict[str, set[str]] = {}
    undone: set[int] = set()
    for rec in records:
        run = undone_run(rec.rule)
        if run is not None and ran_with.get(run) == fingerprint:
            dims.setdefault(rec.account, set()).add(rec.dimension)
            undone.add(run)
    return Holds({a: frozenset(d) for a, d in dims.items()}, tuple(sorted(undone)))


def live_fingerprint(cfg: Config, sync: SyncConfig) -> str | None:
    """The fingerprint of the rules and mapping a run of ``sync`` would load now (as the run
    computes it); None when they cannot be read."""
    from crmseg.audit.plan import default_mapping
    from crmseg.sync.fingerprint import rules_fingerprint

    rules_dir = cfg.resolve(sync.rules)
    mapping = cfg.resolve(sync.mapping) if sync.mapping else default_mapping(rules_dir)
    try:
        return rules_fingerprint(rules_dir, mapping)
    except OSError:
        return None
