"""``AuditSummary``'s per-account adder as generated Python source (see ``summary._build_adder``).

One straight block per dimension: read its result and the CRM's current tag, count the
outcome in the dimension's tally. Field names appear only as ``repr``'d strings or
positions; the objects (tallies, stats, the summary) are arguments of the factory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def adder_source(
    plan: Sequence[tuple[str | None, bool, tuple[int, ...]]], cross: bool, columns: Mapping[str, int] | None = None
) -> str:
    """Source of ``_make(...)`` returning the adder; ``plan``: per dimension (CRM field, is a
    score, crosstab slots). Field names appear only as ``repr``'d strings. ``columns`` (CRM
    field -> position): ``fields`` is a CSV row as a list; a field without a column is None."""
    lines = [
        "def _make(summary, tag, conv, names, stats, tallies, cross_tally, flush, flush_at, NO_RESULT):",
        "    pending = 0  # accounts tallied by this adder since it last flushed",
        "    def adder(fields, results, pinned):",
        "        summary.accounts += 1",
        "        if pinned:",
        "            summary.pinned += 1",
        *([] if columns is not None else ["        get_field = fields.get"]),
        "        get_result = results.get",
    ]
    lines[1:1] = [f"    t{i} = tallies[{i}]" for i in range(len(plan))]
    for i, (field, score, slots) in enumerate(plan):
        body = [f"res = get_result(names[{i}], NO_RESULT)", "value = res.value", "cls = value.__class__"]
        if field is None or (columns is not None and field not in columns):
            body.append("before = None")
        elif columns is None:
            body += [
                f"before = get_field({field!r})",
                "if before is not None and before.__class__ is not str:",
                "    before = conv(before)",
            ]
        else:  # a CSV row: every cell is a str
            body.append(f"before = fields[{int(columns[field])}]")
        tally = [f"t{i}[key] = t{i}.get(key, 0) + 1"]
        if score:
            # int totals (the usual score) reach the stats from the tally in ``_flush`` (exactly);
            # float ones as they come, tallied under a 5-tuple so that 5.0 never merges with 5
            body += [
                "if cls is int:",
                "    key = (value, res.rules, before, pinned)",
                *_indent(tally),
                "elif cls is float:",
                f"    d = stats[{i}]",
                "    d.vsum += value",
                "    d.vnum += 1",
                "    if value < d.vmin:",
                "        d.vmin = value",
                "    if value > d.vmax:",
                "        d.vmax = value",
                "    key = (value, res.rules, before, pinned, None)",
                *_indent(tally),
                "else:",
                "    if value is not None and cls is not str:",
                "        value = tag(value)",
                "    key = (value, res.rules, before, pinned)",
                *_indent(tally),
            ]
        else:
            body += [
                "if cls is not str and cls is not int and cls is not float and value is not None:",
                "    value = tag(value)",
                "key = (value, res.rules, before, pinned)",
                *tally,
            ]
        body += [f"x{k} = value" for k in slots]
        lines += ["        " + line for line in body]
    if cross:
        lines += ["        key2 = (x0, x1)", "        cross_tally[key2] = cross_tally.get(key2, 0) + 1"]
    lines += [
        "        nonlocal pending",
        "        pending += 1",
        "        if pending >= flush_at:",
        "            pending = 0",
        "            flush()",
        "    return adder",
    ]
    return "\n".join(lines) + "\n"
