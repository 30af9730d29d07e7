"""Evaluating parsed SOQL: record matching in Python, and the SQL pushdown for system columns.

Only fixed column names and operators are ever emitted as SQL text; every value travels
as a bound parameter, so a query string cannot reach the database as SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from crmseg.sandbox.schema import FieldDef
from crmseg.sandbox.soql import BoolExpr, Cond, Node
from crmseg.sandbox.values import ms_of

SYSTEM_COLUMNS = {"id": "id", "created": "created_ms", "modified": "modified_ms", "deleted": "deleted"}


def norm(fd: FieldDef, value: Any) -> Any:
    """A comparable form of a value: datetimes as epoch ms, numbers as floats, text case-folded."""
    if value is None:
        return None
    if fd.kind == "datetime":
        return ms_of(value)
    if fd.kind in ("int", "double", "currency", "percent"):
        return float(value)
    if isinstance(value, str):
        return value.casefold()
    return value


def _like(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def evaluate(node: Node, get: Callable[[FieldDef], Any]) -> bool:
    """Whether a record (``get`` returns a field's stored value) matches ``node``."""
    if isinstance(node, BoolExpr):
        if node.op == "NOT":
            return not evaluate(node.items[0], get)
        results = (evaluate(n, get) for n in node.items)
        return all(results) if node.op == "AND" else any(results)
    have = norm(node.field, get(node.field))
    if node.op in ("IN", "NOT IN"):
        inside = have is not None and have in {norm(node.field, v) for v in node.value}
        return inside if node.op == "IN" else not inside
    if node.op == "LIKE":
        return have is not None and bool(_like(str(node.value)).fullmatch(str(get(node.field))))
    want = norm(node.field, node.value)
    if node.op == "=":
        return have == want
    if node.op == "!=":
        return have != want
    if have is None or want is None:
        return False
    try:
        return {"<": have < want, "<=": have <= want, ">": have > want, ">=": have >= want}[node.op]
    except TypeError:
        return False


def sql_filter(node: Node | None) -> tuple[list[str], list[Any], bool]:
    """SQL conditions for the top-level AND-ed comparisons on system columns.

    Returns (conditions, params, complete): ``complete`` is True when the SQL alone
    decides the whole WHERE clause. Only fixed column names and operators are
    emitted; every value is a bound parameter.
    """
    if node is None:
        return [], [], True
    parts = node.items if isinstance(node, BoolExpr) and node.op == "AND" else [node]
    conds: list[str] = []
    params: list[Any] = []
    complete = True
    for part in parts:
        if (
            isinstance(part, Cond)
            and part.field.system in SYSTEM_COLUMNS
            and part.value is not None
            and part.op in ("=", "!=", "<", "<=", ">", ">=")
        ):
            conds.append(f"{SYSTEM_COLUMNS[part.field.system]} {part.op} ?")
            params.append(part.value if part.field.system != "id" else str(part.value))
        else:
            complete = False
    return conds, params, complete


def sql_order(order: list[tuple[FieldDef, bool, bool]]) -> str | None:
    """SQL ORDER BY for system columns only (None when a key needs the record data)."""
    if not order:
        return "id"
    keys = []
    for fd, desc, _ in order:
        if fd.system not in SYSTEM_COLUMNS:
            return None
        keys.append(f"{SYSTEM_COLUMNS[fd.system]} {'DESC' if desc else 'ASC'}")
    if not any(k.startswith("id ") for k in keys):
        keys.append("id ASC")
    return ", ".join(keys)
