"""Plain data passed between pipeline stages: no I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: A canonical account: canonical field name -> normalized value. Missing values are absent.
Account = dict[str, Any]

#: Shown wherever a dimension holds no value.
NONE_LABEL = "(none)"


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as a connector read it: CRM field name -> raw CRM value."""

    id: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Removed:
    """A record the CRM reports deleted: since a change-tracking read's delta link was issued, or
    in its list of deleted records (``deleted_at``: when, where the CRM says)."""

    id: str
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DimResult:
    """One dimension's outcome for one account.

    ``rules``: the label rule that fired (0 or 1 name), or every matching score rule.
    """

    value: Any
    rules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TagWrite:
    """Tag values to write to one CRM record: CRM field name -> value (None clears)."""

    id: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The CRM's answer for one record of a batch write."""

    id: str
    ok: bool
    error: str | None = None


@dataclass(slots=True)
class SchemaField:
    """What a CRM says about one field of the object (from describe / properties)."""

    name: str
    type: str
    updateable: bool = True
    options: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
