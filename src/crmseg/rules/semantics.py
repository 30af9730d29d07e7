"""Runtime meaning of values, comparisons and functions — shared by every engine.

A value is *missing* when absent, None or an empty string. Any comparison,
membership test or function (except ``is_set``) that touches a missing value is
false; so is a comparison between incompatible kinds (text vs number, bool vs
anything but bool, lists or dates vs a literal).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

MISSING: Any = None  # the one missing marker after ``get``

# kinds
NUM, STR, BOOL, LIST, DATE, OTHER = "num", "str", "bool", "list", "date", "other"


def get(account: dict[str, Any], name: str) -> Any:
    """A field's value, with absent/None/'' all folded into MISSING (None)."""
    v = account.get(name)
    return None if v == "" else v


def kind(v: Any) -> str:
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, (int, float)):
        return NUM
    if isinstance(v, str):
        return STR
    if isinstance(v, (list, tuple)):
        return LIST
    if isinstance(v, (date, datetime)):
        return DATE
    return OTHER


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def compare(a: Any, op: str, b: Any) -> bool:
    """``a op b`` under the missing-value and kind rules above."""
    if a is None or b is None or a == "" or b == "":
        return False
    ka, kb = kind(a), kind(b)
    if ka != kb or ka not in (NUM, STR, BOOL):
        return False
    if ka == BOOL and op not in ("==", "!="):
        return False
    return _OPS[op](a, b)


def lower(v: Any) -> Any:
    return v.lower() if isinstance(v, str) and v != "" else None


def days_since(v: Any, now: datetime) -> Any:
    """Whole days from ``v`` (date or datetime) to ``now``; MISSING for anything else."""
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        return (now - v).days
    if isinstance(v, date):
        return (now.date() - v).days
    return None


def contains(v: Any, s: Any) -> bool:
    """Substring test on text (``contains`` on a list field is lowered to ``has``)."""
    return isinstance(v, str) and v != "" and isinstance(s, str) and s in v


def startswith(v: Any, s: Any) -> bool:
    return isinstance(v, str) and v != "" and isinstance(s, str) and v.startswith(s)


def endswith(v: Any, s: Any) -> bool:
    return isinstance(v, str) and v != "" and isinstance(s, str) and v.endswith(s)


def _re2_options() -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False  # a refused pattern is reported by the checker, not logged by RE2
    return options


@lru_cache(maxsize=512)
def regex(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (google-re2): linear-time search, no backtracking, so no
    pattern can hang a run. RE2 syntax: no backreferences or lookaround (``regex_problem``)."""
    import re2

    return re2.compile(pattern, _re2_options())


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a ``matches()`` pattern (RE2 cannot express it), or None."""
    import re

    import re2

    for m in re.finditer(r"(?<!\\)\{(\d+)(?:,(\d*))?\}", pattern):
        if max(int(m.group(1)), int(m.group(2) or 0)) > 1000:
            return f"repeat count {m.group(0)} is over the limit of 1000"
    try:
        regex(pattern)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        if reason.startswith(("invalid perl operator", "invalid escape", "invalid named capture")):
            reason += " (matches() uses RE2 syntax: no backreferences or lookaround)"
        return reason
    except (TypeError, ValueError, OverflowError) as exc:
        return str(exc)
    return None


def matches(v: Any, pattern: str) -> bool:
    """``search`` semantics (a match anywhere), case-sensitive, RE2 syntax, linear time
    (the checker validates the pattern with ``regex_problem``)."""
    return isinstance(v, str) and v != "" and regex(pattern).search(v) is not None


_FAMILY = {"str": STR, "int": NUM, "float": NUM, "bool": BOOL, "list": LIST, "date": DATE, "datetime": DATE}


def is_set(v: Any, declared: str | None = None) -> bool:
    """Not missing and, when the field's type is declared, of that kind."""
    if v is None or v == "":
        return False
    if isinstance(v, (list, tuple)) and not v:
        return False
    return declared is None or kind(v) == _FAMILY.get(declared, declared)


def has_item(v: Any, item: Any) -> bool:
    """``item in list_field``: false when the field is missing or not a list."""
    return isinstance(v, (list, tuple)) and item is not None and item in v


def lacks_item(v: Any, item: Any) -> bool:
    """``item not in list_field``: false when the field is missing or not a list."""
    return isinstance(v, (list, tuple)) and len(v) > 0 and item not in v


INT_EXACT = 2**53  # beyond this, integers are compared as floats by every engine


def clean(account: dict[str, Any]) -> dict[str, Any]:
    """The account as engines see it: missing values (None, '', empty lists, NaN and
    infinities) dropped, integers beyond ±2**53 turned into floats."""
    out: dict[str, Any] = {}
    for k, v in account.items():
        if v is None or v == "":
            continue
        t = type(v)
        if t is float:
            if v != v or v in (_INF, _NINF):
                continue
        elif t is int:
            if not -INT_EXACT <= v <= INT_EXACT:
                v = float(v)
        elif (t is tuple or t is list) and not v:
            continue
        out[k] = v
    return out


_INF, _NINF = float("inf"), float("-inf")


def put_result(acc: dict[str, Any], name: str, value: Any) -> None:
    """A dimension's value into a cleaned account, cleaned as a field is, for the rules after it."""
    acc.pop(name, None)
    acc.update(clean({name: value}))
