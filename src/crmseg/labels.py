"""How reports show labels and accounts.

The one order of a dimension's labels, shared by every report (audit, drift, rules diff):
a dimension's declared ``values`` come first, in the order the rules file lists them
(journey stages, tiers, segments alike); then labels the rules no longer declare — numbers
by value, the rest most accounts first when counts are known, else by name; ``(none)``
always last.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crmseg.model import NONE_LABEL

__all__ = ["account_text", "label_order"]


def label_order(
    seen: Iterable[str], values: Sequence[str] | None = None, counts: Mapping[str, int] | None = None
) -> list[str]:
    """``seen`` (deduplicated) in declared-``values`` order, then undeclared numbers by value,
    then other undeclared labels by ``counts`` (most first; by name without counts), ``(none)`` last."""
    rank = {v: i for i, v in enumerate(values or ())}
    tally = counts or {}

    def key(v: str) -> tuple[int, float, int, str]:
        if v == NONE_LABEL:
            return (3, 0.0, 0, v)
        if v in rank:
            return (0, float(rank[v]), 0, v)
        try:
            number = float(v)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return (1, number, 0, v)
        return (2, 0.0, -int(tally.get(v, 0)), v)

    return sorted(set(seen), key=key)


def account_text(account: str, info: Mapping[str, Any] | None = None) -> str:
    """``0011 Acme Corp (acme.com)``: an account id with its ``name`` and ``domain`` where known."""
    name = (info or {}).get("name")
    domain = (info or {}).get("domain")
    text = f"{account} {name}" if name else account
    return f"{text} ({domain})" if domain else text
