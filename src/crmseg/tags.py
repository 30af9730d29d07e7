"""Compare computed tags with the values the CRM holds now (pure functions)."""

from __future__ import annotations

import re
from typing import Any, Literal

ChangeKind = Literal["unchanged", "changed", "added", "cleared"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("unchanged", "changed", "added", "cleared")


def tag_text(value: Any) -> str | None:
    """The canonical text of a tag value as a CRM stores it; None for no value.

    Integral floats print without a decimal part (``42.0`` -> ``"42"``), so a score
    read back from a CRM number or text field compares equal to the computed one.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    if text == "":
        return None
    if re.fullmatch(r"[+-]?\d+\.0*", text):  # "42.0" from a CRM number field equals 42
        return str(int(float(text)))
    return text


def classify(before: Any, after: Any) -> ChangeKind:
    """How a tag moves from the CRM's current value to the computed one."""
    b, a = tag_text(before), tag_text(after)
    if b == a:
        return "unchanged"
    if b is None:
        return "added"
    if a is None:
        return "cleared"
    return "changed"
