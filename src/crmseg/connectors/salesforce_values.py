"""Tag values as Salesforce takes them (shared by the REST writes and the Bulk API 2.0 CSV)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


def sf_value(value: Any) -> Any:
    """A tag value as Salesforce JSON: lists join with ';' (multi-picklists), dates as ISO."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return ";".join(str(v) for v in value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
