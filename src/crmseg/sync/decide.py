"""What to do with one evaluated account (pure functions, tested on plain values).

- :func:`account_plan`: which dimensions to write (mapped, not pinned, differing from the
  CRM's value), which to record as confirmed without a write, and the CRM fields to send.
- :func:`is_permanent`: whether a CRM's per-record error can succeed by retrying.
- :func:`gives_up`: whether a failed write is kept apart as blocked after its latest failure.
- :func:`rule_label`: the rule text logged with a transition.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from crmseg.model import DimResult
from crmseg.state.store import Dims, DimTag
from crmseg.state.transitions import EDIT_RULE, PINNED_RULE
from crmseg.tags import tag_text

#: Per-record errors that retrying cannot fix (only an admin or a data change can).
PERMANENT_CODES = (
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "INVALID_FIELD_FOR_INSERT_UPDATE",
    "INVALID_FIELD",
    "FIELD_NOT_UPDATEABLE",
    "ENTITY_IS_DELETED",
    "INVALID_CROSS_REFERENCE_KEY",
    "MALFORMED_ID",
    "INVALID_ID_FIELD",
    "INSUFFICIENT_ACCESS",
    "FIELD_INTEGRITY_EXCEPTION",
    "INVALID_TYPE_ON_FIELD_IN_RECORD",
    "STRING_TOO_LONG",
    "INVALID_OPTION",
    "OBJECT_NOT_FOUND",
    "PROPERTY_DOESNT_EXIST",
    "READ_ONLY_VALUE",
    "INVALID_LENGTH",
    # Zoho CRM: a value the field refuses (a pick list lacking it, the wrong type, a deleted
    # record's id), a layout rule's mandatory field, a unique field's duplicate
    "INVALID_DATA",
    "MANDATORY_NOT_FOUND",
    "DUPLICATE_DATA",
)
#: Per-record errors that say the record was busy for a moment: Salesforce's UNABLE_TO_LOCK_ROW (the
#: ~10 s wait for a row lock another transaction held ran out). A retry clears them, so they never
#: become permanent, however many runs in a row they fail. (Zoho's RECORD_LOCKED is not one: a
#: locked Zoho record stays locked until someone unlocks it.)
TRANSIENT_CODES = ("UNABLE_TO_LOCK_ROW",)
#: An error of no known kind becomes permanent after this many failed runs in a row.
MAX_ATTEMPTS = 5
DEFAULT_RULE = "(default)"


def is_permanent(error: str | None) -> bool:
    """True when the error names a cause no retry can fix (restricted picklist, deleted record...)."""
    text = (error or "").upper()
    return any(code in text for code in PERMANENT_CODES)


def is_transient(error: str | None) -> bool:
    """True when the error says the record was busy for a moment: a later run's retry goes through."""
    text = (error or "").upper()
    return any(code in text for code in TRANSIENT_CODES)


def gives_up(error: str | None, tries: int) -> bool:
    """Whether a write that failed with ``error`` in its ``tries``-th run in a row is kept apart as
    blocked: a permanent error at once, a transient one never, any other after MAX_ATTEMPTS runs."""
    if is_permanent(error):
        return True
    return tries >= MAX_ATTEMPTS and not is_transient(error)


def rule_label(result: DimResult) -> str:
    """The rule that produced a value: the label rule's name, score rules joined by '+', or (default)."""
    return "+".join(result.rules) if result.rules else DEFAULT_RULE


@dataclass(slots=True)
class AccountPlan:
    """The outcome of diffing one account."""

    write: Dims = field(default_factory=dict)  # dims to send (``DimTag.value``: the target)
    confirm: Dims = field(default_factory=dict)  # dims to record without a write
    fields: dict[str, Any] = field(default_factory=dict)  # CRM field -> value to send
    pinned: bool = False
    #: Held dimensions (an undo's restored value, see :mod:`crmseg.sync.undo`) the rules would change.
    held: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.write)


def account_plan(
    results: Mapping[str, DimResult],
    current: Mapping[str, Any],
    pinned: bool,
    tag_field: Callable[[str], str | None],
    recorded: Mapping[str, str | None],
    held: Collection[str] = (),
) -> AccountPlan:
    """Diff one account's computed tags against the CRM's current values.

    A mapped dimension whose value differs is written (never for a pinned account: its
    CRM values are recorded as they are). An unmapped dimension has no CRM value: it is
    recorded against what crmseg recorded before. A ``held`` dimension keeps the value an
    undo restored: nothing is written; a CRM edit since is recorded as one (which ends the hold).
    """
    plan = AccountPlan(pinned=pinned)
    for dim, res in results.items():
        value, rule = tag_text(res.value), rule_label(res)
        fld = tag_field(dim)
        if dim in held and not pinned:
            kept = recorded.get(dim) if fld is None else tag_text(current.get(dim))
            plan.confirm[dim] = DimTag(kept, kept, EDIT_RULE)
            if kept != value:
                plan.held.append(dim)
            continue
        if fld is None:
            plan.confirm[dim] = DimTag(recorded.get(dim), value, rule)
            continue
        crm = tag_text(current.get(dim))
        if pinned:
            plan.confirm[dim] = DimTag(crm, crm, PINNED_RULE)
        elif crm == value:
            plan.confirm[dim] = DimTag(crm, value, rule)
        else:
            plan.write[dim] = DimTag(crm, value, rule)
            plan.fields[fld] = res.value
    return plan


def applied(current: Mapping[str, Any], targets: Dims) -> bool:
    """Whether the CRM now holds every target of an outbox entry (its write was applied)."""
    return all(tag_text(current.get(dim)) == tag.value for dim, tag in targets.items())
