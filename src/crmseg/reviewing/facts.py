"""Viability's account facts per segment label: *measurable* (every field the label's rules read
is set) and *accessible* (an owner, and activity within ``activity_days`` of the period's end)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from crmseg.config.review import ReviewConfig
from crmseg.dates import parse_iso
from crmseg.review.viability import AccountFacts
from crmseg.rules.model import Dimension, RuleSet

__all__ = ["SegmentFacts", "accessible_check"]


def _label_fields(d: Dimension, dims: Iterable[str]) -> dict[str, frozenset[str]]:
    """Per label, the account fields its rules read (a label no rule sets, the default: every
    field of the dimension, since it is what is left when none of them matched)."""
    from crmseg.rules.ir import fields_of

    skip = set(dims)
    out: dict[str, set[str]] = {}
    for r in d.rules:
        if r.value is not None:
            out.setdefault(str(r.value), set()).update(f for f in fields_of(r.pred) if f not in skip)
    every = frozenset(f for f in d.fields if f not in skip)
    return {**{k: frozenset(v) for k, v in out.items()}, "": every}


class SegmentFacts:
    """Viability's account facts, per segment dimension, gathered one account at a time."""

    def __init__(
        self,
        rules: RuleSet,
        segments: Sequence[Dimension],
        accessible: Callable[[Mapping[str, Any]], bool | None],
    ) -> None:
        self.fields = {d.name: {k: tuple(v) for k, v in _label_fields(d, rules.names).items()} for d in segments}
        self.accessible = accessible
        self.out: dict[str, list[AccountFacts]] = {d.name: [] for d in segments}

    def add(self, account: str, labels: Iterable[tuple[str, str]], data: Mapping[str, Any]) -> None:
        """``account``'s facts under its label in segment dimensions: ``labels`` (dimension, label)."""
        from crmseg.rules.semantics import is_set

        reachable = self.accessible(data)
        get = data.get
        for name, label in labels:
            fields = self.fields[name]
            read = fields.get(label, fields[""])
            measurable = True
            for f in read:
                if not is_set(get(f)):
                    measurable = False
                    break
            self.out[name].append(AccountFacts(account, label, measurable, reachable))


def accessible_check(
    settings: ReviewConfig, types: Mapping[str, str], end: date
) -> Callable[[Mapping[str, Any]], bool | None]:
    """An owner and activity within ``activity_days`` of ``end``; None when the fields are not mapped."""
    from crmseg.rules.semantics import is_set

    owner, activity = settings.owner_field, settings.activity_field
    if owner not in types or activity not in types:
        return lambda data: None
    since = datetime.combine(end, time(0), tzinfo=UTC) - timedelta(days=settings.activity_days - 1)

    def check(data: Mapping[str, Any]) -> bool | None:
        if not is_set(data.get(owner)):
            return False
        when = data.get(activity)
        if isinstance(when, str):
            try:
                when = parse_iso(when)
            except ValueError:
                return False
        if isinstance(when, datetime):
            return when.astimezone(UTC) >= since
        if isinstance(when, date):
            return when >= since.date()
        return False

    return check
