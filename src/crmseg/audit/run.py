"""The audit run: read every record of a plan, evaluate it and count what would change. Writes nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import islice
from typing import Any

from crmseg.audit.guard import GuardCheck
from crmseg.audit.plan import Plan, read_records
from crmseg.audit.summary import AuditSummary
from crmseg.connectors.base import RowLists
from crmseg.normalize.normalizer import PIN_TEXTS


def run_audit(
    plan: Plan, row_sink: Callable[[str, Any, Any], None] | None = None, tick: Callable[[int], None] | None = None
) -> AuditSummary:
    """Read every record, evaluate it and count what would change. Writes nothing."""
    from crmseg.rules.alerts import plan_alerts

    started = time.perf_counter()
    dims = plan.rules.names
    summary = AuditSummary(plan.rules.dimensions, plan.rules.used_fields(), plan.min_segment_size)
    if plan.guard is not None:
        summary.written_dims = frozenset(d for d in dims if plan.mapping.tag_field(d) is not None)
    alerts = plan_alerts(plan)
    summary.failed_tests, summary.rule_warnings = alerts.failed_tests, alerts.lints
    norm = plan.normalizer
    # The rules read their used fields alone, and the audit reports data quality for those
    # alone (``summary.finish``): the other mapped fields need no converting here.
    used = plan.rules.used_fields()
    account = norm.account_of(used)
    current_tags, pinned, add = norm.current_tags, norm.pinned, summary.add
    engine = plan.rules_engine()
    n = 0
    # evaluate() per account for every engine: durable's evaluate_many (1,000 accounts per
    # ruleset call) is faster but fails at some 1M-account inputs (durable-rules code 2), so
    # the audit does not use it
    row_lists = plan.connector.capabilities.row_lists
    if row_sink is None and row_lists is not None and not norm.passes_through(used):
        n = _audit_csv_rows(plan, row_lists, engine, summary, used, tick)
    elif row_sink is None:  # current tags read straight from the record (as current_tags gives them)
        evaluate = engine.evaluate
        add_record = summary.record_adder({d: norm.mapping.tag_field(d) for d in dims})
        for raw in read_records(plan):
            add_record(raw.fields, evaluate(account(raw)), pinned(raw))
            n += 1
            if tick is not None and n % 1000 == 0:
                tick(n)
    else:
        evaluate = engine.evaluate
        for raw in read_records(plan):
            results = evaluate(account(raw))
            current = current_tags(raw, dims)
            add(raw.id, results, current, pinned(raw))
            row_sink(raw.id, results, current)
            n += 1
            if tick is not None and n % 1000 == 0:
                tick(n)
    summary.metadata.update(
        {
            "source": plan.source,
            "rules_dir": plan.rules_dir,
            "mapping": plan.mapping.path,
            "engine": engine.name,
            "started_at": plan.now.isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - started, 3),
        }
    )
    limits = plan.connector.capabilities.api_limits
    if limits is not None:  # CRM connectors count their calls; Salesforce also reports Sforce-Limit-Info
        summary.metadata["api_calls"] = limits.calls
        usage = limits.api_usage
        if usage:
            summary.metadata["api_usage"] = f"{usage[0]:,}/{usage[1]:,} ({usage[0] / max(usage[1], 1):.1%})"
    skipped = plan.connector.capabilities.skipped_rows
    summary.skipped_rows = list(skipped.skipped) if skipped is not None else []
    if plan.guard is not None:
        summary.guard = GuardCheck(plan.guard, summary.changed_accounts, summary.accounts)
    summary.finish(norm.quality, plan.warnings)  # rule warnings are in summary.rule_warnings (alerts)
    return summary


def _audit_csv_rows(
    plan: Plan,
    connector: RowLists,
    engine: Any,
    summary: AuditSummary,
    used: list[str],
    tick: Callable[[int], None] | None,
) -> int:
    """``run_audit``'s loop over a CSV file's rows as lists (the ``row_lists`` capability):
    the normalizer, the summary and the pin read the columns by position, so no dict is
    built per row. Same accounts, current tags and pins as the RawRecord loop."""
    norm = plan.normalizer
    mapping = norm.mapping
    bound: list[Any] = []

    def on_header(names: list[str]) -> None:
        columns = {name: i for i, name in enumerate(names)}  # a repeated name: its last column, as a dict row
        pin = columns.get(mapping.pin_field) if mapping.pin_field else None
        bound[:] = [
            norm.row_account_of(used, columns),
            summary.record_adder({d: mapping.tag_field(d) for d in plan.rules.names}, columns),
            pin,
        ]

    evaluate, pin_value, pin_texts = engine.evaluate, norm.pin_value, PIN_TEXTS
    n = 0
    rows = connector.read_rows(on_header)
    for rid, row in rows:  # the first row: the header has been read, the functions are bound
        account, add, pin = bound
        add(row, evaluate(account(rid, row)), False if pin is None else pin_value(row[pin]))
        n += 1
        break
    if not n:  # no rows
        return 0
    step = 1000 if tick is not None else 1 << 62  # progress every 1,000 rows, when asked for
    more = n
    while True:  # runs of ``step`` rows, no per-row progress check
        if pin is None:
            for more, (rid, row) in enumerate(islice(rows, step), n + 1):  # noqa: B007 - the row count, read after the loop
                add(row, evaluate(account(rid, row)), False)
        else:
            for more, (rid, row) in enumerate(islice(rows, step), n + 1):  # noqa: B007 - the row count, read after the loop
                v = row[pin]
                p = pin_texts.get(v)  # the usual "true"/"false"/blank; anything else as pinned() reads it
                add(row, evaluate(account(rid, row)), pin_value(v) if p is None else p)
        if more == n:
            return n
        n = more
        if tick is not None:
            tick(n)
