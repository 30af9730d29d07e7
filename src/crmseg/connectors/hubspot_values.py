"""HubSpot property names and values: checked names, datetimes as epoch milliseconds, tag values
as text (shared by the company and the deal reads and the writes)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from crmseg.dates import parse_iso
from crmseg.errors import ConfigError

__all__ = ["check_prop", "hs_value", "to_ms"]

PROP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_prop(name: str) -> str:
    """``name`` if it is a plain HubSpot property name, else ConfigError."""
    if not isinstance(name, str) or not PROP.fullmatch(name):
        raise ConfigError(f"hubspot: property name {name!r} is not valid (letters, digits, underscores)")
    return name


def to_ms(value: Any) -> int | None:
    """Epoch milliseconds from a HubSpot datetime value (ISO 8601 string or ms epoch)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        return to_ms(parse_iso(text))
    except ValueError:
        return None


def hs_value(value: Any) -> str:
    """A tag value as HubSpot wants it: strings; '' clears; lists join with ';'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ";".join(str(v) for v in value)
    if isinstance(value, datetime):
        return str(to_ms(value))
    return str(value)
