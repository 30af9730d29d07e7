"""One mapping's ``account(raw)`` as generated Python source, ``compile()``d once per Normalizer.

Each declared field becomes a few straight lines: read the source value, convert the
common case inline (clean text, ``int(text)``, ``float(text)``, ISO datetimes with ``Z``,
remembered spellings), and hand anything else to the field's own converter from
``normalize.make_converter`` — so the result is exactly the converter's, only faster.
Field and source names appear in the source only as ``repr``'d strings; objects (the
converters, memo dicts, counters) are arguments of a factory function.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Callable

from crmseg.config import FieldMap

BAD: Any = object()  # the converter raised: the value is invalid
NO_HIT: Any = object()
INVALID = (ValueError, TypeError, OverflowError, OSError)
MEMO_MAX = 10_000


def slow(conv: Callable[[Any], Any], v: Any) -> Any:
    """The converter's result, BAD when it raises."""
    try:
        return conv(v)
    except INVALID:
        return BAD


def slow_memo(conv: Callable[[Any], Any], memo: dict[str, Any], v: str) -> Any:
    """``slow``, remembered per raw text (the same few spellings repeat), up to MEMO_MAX texts."""
    out = slow(conv, v)
    if len(memo) < MEMO_MAX:
        memo[v] = out
    return out


# texts a C parser refused ("1,200", "n/a"): remembered, as the same few repeat
_REMEMBERED = ["        x = {m}.get(v, _NO_HIT)", "        if x is _NO_HIT:", "            x = _slow_memo({c}, {m}, v)"]
# the inline fast path per kind (after blank text, which is missing for every type); ``{c}``/``{m}`` are the field's converter and memo, ``x`` the result
_FAST = {
    "text": ["if v.__class__ is str:", "    x = v.strip() or None", "else:", "    x = _slow({c}, v)"],
    "lower": ["if v.__class__ is str:", "    x = v.strip().lower() or None", "else:", "    x = _slow({c}, v)"],
    "upper": ["if v.__class__ is str:", "    x = v.strip().upper() or None", "else:", "    x = _slow({c}, v)"],
    "memo": ["if v.__class__ is str:", "    x = {m}.get(v, _NO_HIT)", "    if x is _NO_HIT:",
             "        x = _slow_memo({c}, {m}, v)", "else:", "    x = _slow({c}, v)"],
    "int": ["if v.__class__ is str:", "    try:", "        x = _int(v)", "    except ValueError:", *_REMEMBERED,
            "else:", "    x = _slow({c}, v)"],
    "float": ["if v.__class__ is str:", "    try:", "        x = _float(v)", "    except ValueError:", *_REMEMBERED,
              "    else:", "        if x - x != 0:", "            x = _BAD", "else:", "    x = _slow({c}, v)"],
    "bool": ["x = _BOOLS.get(v) if v.__class__ is str else None", "if x is None:", "    x = _slow({c}, v)"],
    "datetime": ["if v.__class__ is str:", "    try:", "        x = _fromiso(v)", "    except ValueError:",
                 "        x = _slow({c}, v)", "    else:", "        if x.tzinfo is not _UTC:",
                 "            x = _slow({c}, v)", "else:", "    x = _slow({c}, v)"],
    "date": ["if v.__class__ is str and len(v) == 10 and v[4] == '-':", "    try:", "        x = _date_iso(v)",
             "    except ValueError:", "        x = _BAD", "else:", "    x = _slow({c}, v)"],
}


def fast_kind(fm: FieldMap) -> str:
    """Which inline path a declared field takes."""
    if fm.type == "list" or fm.synonyms or fm.normalize == "country":
        return "memo"
    if fm.type == "str":
        return {"lower": "lower", "upper": "upper"}.get(fm.normalize or "", "text")
    return fm.type


def generate(plan: list[tuple[int, str, str, FieldMap]], passthrough: bool) -> str:
    """Source of ``_make(...)`` returning ``account(raw)`` for ``plan`` (index, name, source, FieldMap)."""
    lines = ["def _make(_miss, _bad, _convs, _memos, _pass, _slow, _slow_memo, _BAD, _NO_HIT, _int, _float,",
             "          _BOOLS, _fromiso, _date_iso, _UTC):"]
    lines += [f"    _c{i} = _convs[{i}]" for i, *_ in plan]
    lines += [f"    _m{i} = _memos[{i}]" for i, *_ in plan]
    lines += ["    def account(raw):", "        get = raw.fields.get", "        acc = {}"]
    for i, name, src, fm in plan:
        lines += [f"        v = get({src!r})", "        if v is None or v == '':", f"            _miss[{i}] += 1", "        else:"]
        lines += ["            " + t.format(c=f"_c{i}", m=f"_m{i}") for t in _FAST[fast_kind(fm)]]
        lines += ["            if x is None:", f"                _miss[{i}] += 1", "            elif x is _BAD:",
                  f"                _bad[{i}] += 1", "            else:", f"                acc[{name!r}] = x"]
    if passthrough:
        lines.append("        _pass(raw.fields, acc)")
    lines += ["        acc['id'] = raw.id", "        return acc", "    return account"]
    return "\n".join(lines) + "\n"


def build(plan: list[tuple[int, str, str, FieldMap]], convs: list[Callable[[Any], Any]], passthrough: bool,
          missing: list[int], invalid: list[int], pass_fn: Callable[[Any, dict[str, Any]], None]) -> Callable[[Any], dict[str, Any]]:
    """Compile ``generate``'s source and bind it to this normalizer's converters and counters."""
    from crmseg.normalize import _BOOLS

    namespace: dict[str, Any] = {}
    exec(compile(generate(plan, passthrough), "<crmseg mapping>", "exec"), namespace)  # noqa: S102 - names only as repr
    memos: list[dict[str, Any]] = [{} for _ in plan]
    return namespace["_make"](missing, invalid, convs, memos, pass_fn, slow, slow_memo, BAD, NO_HIT, int, float,
                              _BOOLS, datetime.fromisoformat, date.fromisoformat, timezone.utc)
