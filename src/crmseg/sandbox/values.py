"""Value conversion for the sandbox: time formats and per-field-kind coercion.

Field kinds are CRM-neutral (``string``, ``picklist``, ``multipicklist``, ``int``,
``double``, ``boolean``, ``date``, ``datetime``, ...). Salesforce stores JSON-native
values (numbers, booleans, ISO strings); HubSpot stores every value as a string.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_NUM = re.compile(r"-?\d+(?:\.\d+)?")
TEXT_KINDS = frozenset({"string", "textarea", "url", "reference", "id", "phone"})


class FieldError(Exception):
    """A value a field refuses: ``code`` is the vendor error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------- time
def parse_datetime(text: str) -> datetime | None:
    """Parse ISO 8601 (date, datetime, Z or ±hh[:]mm offsets) to an aware UTC datetime.

    Not ``crmseg.dates``: this is the vendors' side of the wire (what the emulated servers
    accept, e.g. nine-digit fractions), and it must not move when crmseg's own reading does,
    or the tests would check crmseg's parser against itself."""
    text = text.strip()
    if len(text) >= 19 and text[10] == "T":
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            dt = None
        if dt is not None:
            return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    m = _ISO.match(text)
    if not m:
        return None
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    try:
        frac_us = int((frac or "0").ljust(6, "0")[:6])
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), frac_us)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        return dt.replace(tzinfo=UTC) - timedelta(minutes=offset)
    return dt.replace(tzinfo=UTC)


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return round(value.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime from epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def sf_datetime(ms: int) -> str:
    """Salesforce dateTime text: ``2026-11-01T10:00:00.000+0000``."""
    d = from_ms(ms)
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}."
        f"{d.microsecond // 1000:03d}+0000"
    )


def hs_datetime(ms: int) -> str:
    """HubSpot datetime text: ``2026-11-01T10:00:00.123Z``."""
    return sf_datetime(ms)[:-5] + "Z"


def ms_of(value: Any) -> int | None:
    """Epoch ms of a stored/written date or datetime value (ISO text or ms number)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, datetime):
        return to_ms(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return to_ms(datetime(value.year, value.month, value.day, tzinfo=UTC))
    text = str(value).strip()
    if len(text) >= 10 and text[4] == "-":
        dt = parse_datetime(text)
        return to_ms(dt) if dt else None
    if _NUM.fullmatch(text):
        return int(float(text))
    return None


# ---------------------------------------------------------------- coercion
def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    try:
        out = float(str(value).strip().replace(",", ""))
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    return None


def split_multi(value: Any) -> list[str]:
    """Items of a multi-select value given as a list or a ';'-joined string."""
    items = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split(";")
    return [i.strip() for i in items if i.strip()]


def coerce(
    kind: str, value: Any, *, label: str, options: list[str] | None = None, restricted: bool = False, length: int = 255
) -> Any:
    """Convert a written value to the stored JSON-native form or raise FieldError.

    Codes follow Salesforce; HubSpot callers translate them. None/"" clear a field.
    """
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if kind in TEXT_KINDS or kind == "textarea":
        text = value if isinstance(value, str) else _text(value)
        if len(text) > length:
            raise FieldError("STRING_TOO_LONG", f"{label}: data value too large: {text[:40]} (max length={length})")
        return text
    if kind == "picklist":
        text = value if isinstance(value, str) else _text(value)
        if restricted and options is not None and text not in options:
            raise FieldError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"{label}: bad value for restricted picklist field: {text}"
            )
        return text
    if kind == "multipicklist":
        items = split_multi(value)
        if restricted and options is not None:
            bad = [i for i in items if i not in options]
            if bad:
                raise FieldError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label}: bad value for restricted picklist field: {bad[0]}",
                )
        return ";".join(items) or None
    if kind in ("int", "double", "currency", "percent"):
        num = _number(value)
        if num is None or (kind == "int" and not num.is_integer()):
            raise FieldError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {value}")
        return int(num) if kind == "int" else num
    if kind == "boolean":
        b = _bool(value)
        if b is None:
            raise FieldError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {value}")
        return b
    if kind == "date":
        ms = ms_of(value)
        if ms is None:
            raise FieldError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {value}")
        return from_ms(ms).date().isoformat()
    if kind == "datetime":
        ms = ms_of(value)
        if ms is None:
            raise FieldError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {value}")
        return sf_datetime(ms)
    raise FieldError("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {label}.")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def hs_text(kind: str, stored: Any) -> str | None:
    """HubSpot's string form of a stored (JSON-native) value."""
    if stored is None:
        return None
    if kind == "datetime":
        ms = ms_of(stored)
        return hs_datetime(ms) if ms is not None else None
    return _text(stored)
