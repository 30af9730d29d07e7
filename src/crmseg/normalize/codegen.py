"""One mapping's ``account(raw)`` as generated Python source, ``compile()``d once per Normalizer.

Each declared field becomes a few straight lines: read the source value, convert the
common case inline (clean text, ``int(text)``, ``float(text)``, ISO datetimes with ``Z``,
remembered spellings), and hand anything else to the field's own converter from
``normalize.make_converter`` — so the result is exactly the converter's, only faster.
Field and source names appear in the source only as ``repr``'d strings; objects (the
converters, memo dicts, counters) are arguments of a factory function.

``plain`` builds the same ``account`` as an obvious loop over the converters: the reference
the generated code is tested against (tests/test_normalize_codegen.py, with Hypothesis). The
generated code is kept because it makes a whole audit some 12-19% faster (benchmarks/audit_bench.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

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


# Per kind: the lines for a text value ``v`` (what files and most CRMs give). ``{N}`` is the
# account key, ``{c}``/``{m}`` the field's converter and memo. A line either stores the value
# (``acc[{N}] = ...``) or counts it, or leaves a result in ``x`` for the shared tail (TAIL).
TAIL = ["if x is None:", "    _miss[{i}] += 1", "elif x is _BAD:", "    _bad[{i}] += 1", "else:", "    acc[{N}] = x"]
# texts a C parser refused ("1,200", "n/a"): remembered, as the same few repeat
_REMEMBERED = ["x = {m}.get(v, _NO_HIT)", "if x is _NO_HIT:", "    x = _slow_memo({c}, {m}, v)", *TAIL]
_BLANK = ["if not v:", "    _miss[{i}] += 1"]


def _indent(lines: list[str], n: int = 1) -> list[str]:
    return ["    " * n + line for line in lines]


def _stripped(method: str) -> list[str]:
    return [f"x = v.strip(){method}", "if x:", "    acc[{N}] = x", "else:", "    _miss[{i}] += 1"]


_TEXT = {
    "text": _stripped(""),
    "lower": _stripped(".lower()"),
    "upper": _stripped(".upper()"),
    "memo": _REMEMBERED,
    "int": [
        *_BLANK,
        "else:",
        "    try:",
        "        acc[{N}] = _int(v)",
        "    except ValueError:",
        *_indent(_REMEMBERED, 2),
    ],
    "float": [
        *_BLANK,
        "else:",
        "    try:",
        "        x = _float(v)",
        "    except ValueError:",
        *_indent(_REMEMBERED, 2),
        "    else:",
        "        if x - x == 0:",
        "            acc[{N}] = x",
        "        else:",
        "            _bad[{i}] += 1",
    ],
    "bool": [
        "x = _BOOLS.get(v)",
        "if x is not None:",
        "    acc[{N}] = x",
        "else:",
        "    x = _slow({c}, v)",
        *_indent(TAIL),
    ],
    # a naive ISO text ("2026-01-25", "2026-01-25 10:00") is UTC, as the converter reads it; digit-only
    # texts take the converter (9+ digits are epoch seconds there)
    "datetime": [
        *_BLANK,
        "else:",
        "    try:",
        "        x = _fromiso(v)",
        "    except ValueError:",
        "        x = _slow({c}, v)",
        "    else:",
        "        if x.tzinfo is not _UTC:",
        "            if x.tzinfo is None and not v.isdigit():",
        "                x = x.replace(tzinfo=_UTC)",
        "            else:",
        "                x = _slow({c}, v)",
        *_indent(TAIL),
    ],
    "date": [
        *_BLANK,
        "elif len(v) == 10 and v[4] == '-':",
        "    try:",
        "        acc[{N}] = _date_iso(v)",
        "    except ValueError:",
        "        _bad[{i}] += 1",
        "else:",
        "    x = _slow({c}, v)",
        *_indent(TAIL),
    ],
}


def fast_kind(fm: FieldMap) -> str:
    """Which inline path a declared field takes."""
    if fm.type == "list" or fm.synonyms or fm.normalize == "country":
        return "memo"
    if fm.type == "str":
        return {"lower": "lower", "upper": "upper"}.get(fm.normalize or "", "text")
    return fm.type


def generate(
    plan: list[tuple[int, str, str, FieldMap]], passthrough: bool, columns: dict[str, int] | None = None
) -> str:
    """Source of ``_make(...)`` returning ``account(raw)`` for ``plan`` (index, name, source, FieldMap).

    ``columns`` (source -> position): ``account(id, row)`` for a CSV row as a list instead,
    a source without a column reading as None (what ``dict.get`` gives); no passthrough."""
    lines = [
        "def _make(_miss, _bad, _convs, _memos, _pass, _slow, _slow_memo, _BAD, _NO_HIT, _int, _float,",
        "          _BOOLS, _fromiso, _date_iso, _UTC):",
    ]
    lines += [f"    _c{i} = _convs[{i}]" for i, *_ in plan]
    lines += [f"    _m{i} = _memos[{i}]" for i, *_ in plan]
    if columns is None:
        lines += ["    def account(raw):", "        get = raw.fields.get", "        acc = {}"]
    else:
        lines += ["    def account(rid, row):", "        acc = {}"]
    for i, name, src, fm in plan:
        body = [
            "if v.__class__ is str:",
            *_indent(_TEXT[fast_kind(fm)]),
            "elif v is None:",
            "    _miss[{i}] += 1",
            "else:",
            "    x = _slow({c}, v)",
            *_indent(TAIL),
        ]
        if columns is None:
            lines.append(f"        v = get({src!r})")
        elif columns.get(src) is None:
            body = ["_miss[{i}] += 1"]  # no such column: None, as dict.get gives
        else:  # a CSV row: every cell is a str
            lines.append(f"        v = row[{int(columns[src])}]")
            body = list(_TEXT[fast_kind(fm)])
        lines += ["        " + t.format(c=f"_c{i}", m=f"_m{i}", i=i, N=repr(name)) for t in body]
    if columns is not None:
        lines += ["        acc['id'] = rid", "        return acc", "    return account"]
        return "\n".join(lines) + "\n"
    if passthrough:
        lines.append("        _pass(raw.fields, acc)")
    lines += ["        acc['id'] = raw.id", "        return acc", "    return account"]
    return "\n".join(lines) + "\n"


def build(
    plan: list[tuple[int, str, str, FieldMap]],
    convs: list[Callable[[Any], Any]],
    passthrough: bool,
    missing: list[int],
    invalid: list[int],
    pass_fn: Callable[[Any, dict[str, Any]], None],
    columns: dict[str, int] | None = None,
    bools: Mapping[str, bool] = MappingProxyType({}),
) -> Callable[..., dict[str, Any]]:
    """Compile ``generate``'s source and bind it to this normalizer's converters and counters;
    ``bools``: texts the bool converter reads at once (a hit is the converter's result)."""
    namespace: dict[str, Any] = {}
    exec(compile(generate(plan, passthrough, columns), "<crmseg mapping>", "exec"), namespace)
    memos: dict[int, dict[str, Any]] = {i: {} for i, *_ in plan}  # by the field's index, as the counters
    return namespace["_make"](
        missing,
        invalid,
        convs,
        memos,
        pass_fn,
        slow,
        slow_memo,
        BAD,
        NO_HIT,
        int,
        float,
        bools,
        datetime.fromisoformat,
        date.fromisoformat,
        UTC,
    )


def plain(
    plan: list[tuple[int, str, str, FieldMap]],
    convs: list[Callable[[Any], Any]],
    passthrough: bool,
    missing: list[int],
    invalid: list[int],
    pass_fn: Callable[[Any, dict[str, Any]], None],
    columns: dict[str, int] | None = None,
    bools: Mapping[str, bool] = MappingProxyType({}),
) -> Callable[..., dict[str, Any]]:
    """The reference for ``build`` (same arguments; ``bools`` unused): the same ``account`` as a
    plain loop over the fields' converters, kept for differential tests."""
    fields = [(i, name, src, convs[i]) for i, name, src, _ in plan]

    def convert(acc: dict[str, Any], i: int, name: str, conv: Callable[[Any], Any], v: Any) -> None:
        if v is None:
            missing[i] += 1
            return
        try:
            out = conv(v)
        except INVALID:
            invalid[i] += 1
            return
        if out is None:
            missing[i] += 1
        else:
            acc[name] = out

    if columns is not None:
        cells = [(i, name, columns.get(src), conv) for i, name, src, conv in fields]

        def row_account(rid: str, row: list[Any]) -> dict[str, Any]:
            acc: dict[str, Any] = {}
            for i, name, pos, conv in cells:
                convert(acc, i, name, conv, None if pos is None else row[pos])
            acc["id"] = rid
            return acc

        return row_account

    def account(raw: Any) -> dict[str, Any]:
        acc: dict[str, Any] = {}
        get = raw.fields.get
        for i, name, src, conv in fields:
            convert(acc, i, name, conv, get(src))
        if passthrough:
            pass_fn(raw.fields, acc)
        acc["id"] = raw.id
        return acc

    return account
