"""Which tag moves to log when crmseg records a value (pure functions).

A transition is always a diff against the value crmseg last *recorded* for the account
and dimension — or, on the account's first run, against the value the CRM held. That is
what makes logging exactly-once: recording the value and appending its transitions
happen in one transaction, and a value already recorded produces no transition again.

A manual edit in the CRM that crmseg then overwrites is logged as two moves: the edit
(``recorded -> crm value``, rule ``(crm edit)``) and crmseg's write
(``crm value -> new value``, the rule that fired).
"""

from __future__ import annotations

Move = tuple[str | None, str | None, str | None]  # (from, to, rule)
EDIT_RULE = "(crm edit)"
PINNED_RULE = "(pinned)"


def moves(
    has_record: bool,
    recorded: str | None,
    crm_before: str | None,
    value: str | None,
    rule: str | None,
    edit_rule: str = EDIT_RULE,
) -> list[Move]:
    """The transitions to log when ``value`` becomes the recorded tag."""
    if not has_record:
        return [] if crm_before == value else [(crm_before, value, rule)]
    if crm_before != recorded and crm_before != value:
        return [(recorded, crm_before, edit_rule), (crm_before, value, rule)]
    if recorded != value:
        return [(recorded, value, rule)]
    return []
