"""The review's inputs from files (``--source/--deals/--rules``): the accounts evaluated with the
rules now (or at ``--as-of``), every deal attributed with that current evaluation — there is no
history, so no accounts in/out, PSI or churn, and the review says so in its warnings.
The refusals both sources share: :mod:`crmseg.reviewing.checks`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from crmseg.deals.table import AccountIndex, DealTable
from crmseg.deals.timelines import current_table
from crmseg.review.assemble import DimensionInputs, ReviewInputs
from crmseg.review.frame import AccountLabels
from crmseg.reviewing.checks import check_currencies, check_deals, customer_check
from crmseg.reviewing.dimensions import plan_dimensions
from crmseg.reviewing.facts import SegmentFacts, accessible_check
from crmseg.reviewing.request import ReviewRequest
from crmseg.tags import tag_text

__all__ = ["file_inputs"]


def file_inputs(
    source: str | Path,
    deals_path: str | Path,
    rules_dir: str | Path,
    mapping_path: str | Path | None,
    request: ReviewRequest,
    **file_options: Any,
) -> ReviewInputs:
    """The review's inputs from an accounts file and a deals file, every deal attributed with the
    rules' current evaluation of its account (see the module's docstring)."""
    from crmseg.audit.plan import plan_source, read_records
    from crmseg.connectors.deal_files import DealFile

    settings = request.settings
    now = request.as_of or datetime.now(UTC)
    plan = plan_source(source, rules_dir, mapping_path, "auto", now, **file_options)
    try:
        rules = plan.rules
        chosen = plan_dimensions(rules, request)
        dims = chosen.dimensions
        if settings.customer:
            customer_check(settings.customer, rules)  # checked (exit 2 when it does not), not used
        norm = plan.normalizer
        fields = set(rules.used_fields()) | {settings.owner_field, settings.activity_field}
        account_of = norm.account_of(fields)
        evaluate = plan.rules_engine().evaluate
        labels: dict[str, dict[str, str | None]] = {d.name: {} for d in dims}
        data: dict[str, Mapping[str, Any]] = {}
        evaluated: list[str] = []
        keep_data = any(chosen.segment(d) for d in dims)
        for raw in read_records(plan):
            evaluated.append(raw.id)
            account = account_of(raw)
            results = evaluate(account)
            for d in dims:
                labels[d.name][raw.id] = tag_text(results[d.name].value)
            if keep_data:
                data[raw.id] = account
        passthrough = plan.connector.capabilities.passthrough
        types = norm.field_types(passthrough.columns() if passthrough is not None else ())
    finally:
        plan.close()
    on_bad_row = file_options.get("on_bad_row", "raise")
    deal_file = DealFile(deals_path, on_bad_row=on_bad_row, encoding=file_options.get("encoding") or "utf-8-sig")
    index = AccountIndex(evaluated)  # the accounts file's accounts numbered first: those below n are known
    n = len(index)
    deals = DealTable.of(list(deal_file.read()), index)
    check_currencies(deals.currencies, settings, str(deals_path))
    known = np.arange(len(index)) < n
    warnings = check_deals(deals, known, request.period, str(deals_path), str(source))
    warnings += [f"skipped deal row: {line}" for line in deal_file.skipped]
    when = request.as_of.date().isoformat() if request.as_of else "today"
    warnings.append(
        f"no tag history (files): every deal is attributed with the rules' current evaluation ({when}) of its "
        "account, so no accounts in/out, PSI or churn; review a sync's state for those"
    )
    if settings.customer:
        warnings.append("[review] customer: churn needs a sync's tag history (customers at the start); not computed")
    if request.attribute not in (None, "current"):
        warnings.append(f"--attribute {request.attribute} needs a sync's tag history: the current evaluation is used")
    segments = [d for d in dims if chosen.segment(d)]
    facts = SegmentFacts(rules, segments, accessible_check(settings, types, request.period.end))
    for rid, fields_read in data.items():
        held = [(d.name, label) for d in segments if (label := labels[d.name].get(rid)) is not None]
        facts.add(rid, held, fields_read)
    inputs = [
        DimensionInputs(
            d.name,
            chosen.kind(d),
            current_table(deals, labels[d.name], d.name),
            AccountLabels.of(labels[d.name], index),
            None,
            None,
            chosen.ladder(d),
            chosen.segment(d),
            facts.out.get(d.name, ()),
        )
        for d in dims
    ]
    return ReviewInputs(request.period, request.compare, inputs, warnings)
