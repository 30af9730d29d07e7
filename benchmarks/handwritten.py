"""The shipped rules (rules/*.toml) translated by hand into plain Python if/elif.

This is the baseline of ``benchmarks/audit_bench.py``: what a developer would write
without a rule engine. It evaluates the SAME four dimensions (``icp_score``, ``segment``,
``stage``, ``tier``) with the SAME fired-rule names, on the accounts
``crmseg.normalize.normalizer.Normalizer`` produces from ``connectors/csv.toml``, so its types are
known: ``employees``/``web_visits_30d``/``open_opportunities`` int, ``annual_revenue``/
``intent_score`` float, ``industry``/``country`` text (synonyms applied, ISO codes),
``tech_stack`` a tuple of text, ``is_customer`` bool, ``last_activity_at`` an aware
datetime, ``customer_since`` a date.

Missing values follow the rule language: the normalizer leaves a missing field out of
the account, so ``get`` gives ``None`` and every comparison that touches it is false
(``x is not None and ...``); ``in`` on a missing list is false (``or ()``).

Keep this file in step with rules/*.toml: the benchmark and tests/test_benchmark_smoke.py
check that it gives exactly the native engine's values and fired rules.

``audit(plan)`` is the hand-written counterpart of ``crmseg.audit.run.run_audit``: the same
CSV read (``FileConnector.read_rows``), the same ``Normalizer`` restricted to the fields the
rules read, and the same ``AuditSummary`` adder; only the evaluation differs.
The plan (``crmseg.audit.plan.plan_source``) supplies the normalizer and the dimension
descriptions the summary prints; the rules themselves are never consulted here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crmseg.audit.summary import AuditSummary
from crmseg.model import DimResult

__all__ = ["HandwrittenEngine", "audit"]

# rules/segment.toml
_SEG_ENTERPRISE = DimResult("Enterprise", ("enterprise",))
_SEG_DIGITAL = DimResult("Digital Native", ("digital-native",))
_SEG_MID = DimResult("Mid-Market", ("mid-market",))
_SEG_SMB = DimResult("SMB", ("smb",))
_SEG_DEFAULT = DimResult("Unsegmented", ())
_DIGITAL_INDUSTRIES = ("Software", "Financial Services", "Retail")

# rules/icp_score.toml
_CORE_INDUSTRIES = ("Software", "Financial Services")
_ADJACENT_INDUSTRIES = ("Manufacturing", "Healthcare", "Retail")
_TARGET_MARKETS = ("US", "CA", "GB", "DE", "FR", "NL", "IE")

# rules/stage.toml (no default: no rule matching -> no value)
_ST_POST_SALE = DimResult("Post-sale", ("post-sale",))
_ST_CUSTOMER = DimResult("Customer", ("customer",))
_ST_OPPORTUNITY = DimResult("Opportunity", ("opportunity",))
_ST_MQA = DimResult("MQA", ("mqa",))
_ST_ENGAGED = DimResult("Engaged", ("engaged",))
_ST_AWARE = DimResult("Aware", ("aware",))
_ST_QUALIFIED = DimResult("Qualified", ("qualified",))
_ST_NONE = DimResult(None, ())

# rules/tier.toml
_TIER_1 = DimResult("Tier 1", ("tier-1",))
_TIER_2 = DimResult("Tier 2", ("tier-2",))
_TIER_3 = DimResult("Tier 3", ())


def make_evaluator(now: datetime) -> Callable[[dict[str, Any]], dict[str, DimResult]]:
    """``evaluate(account) -> {dimension: DimResult}`` with ``days_since`` counted to ``now``."""
    today = now.date()

    def evaluate(acc: dict[str, Any]) -> dict[str, DimResult]:
        get = acc.get
        industry = get("industry")
        employees = get("employees")
        revenue = get("annual_revenue")
        country = get("country")
        stack = get("tech_stack") or ()
        intent = get("intent_score")
        visits = get("web_visits_30d")
        last_activity = get("last_activity_at")
        activity_days = None if last_activity is None else (now - last_activity).days
        modern_stack = "Snowflake" in stack or "Segment" in stack or "Databricks" in stack

        # ---- icp_score (score: every matching rule adds its points; starts at 0)
        score = 0
        fired: list[str] = []
        if industry in _CORE_INDUSTRIES:
            score += 20
            fired.append("industry-core")
        if industry in _ADJACENT_INDUSTRIES:
            score += 10
            fired.append("industry-adjacent")
        if employees is not None:
            if 200 <= employees < 5000:
                score += 15
                fired.append("size-sweet-spot")
            if employees >= 5000:
                score += 10
                fired.append("size-large")
            if 50 <= employees < 200:
                score += 5
                fired.append("size-growing")
        if country in _TARGET_MARKETS:
            score += 10
            fired.append("target-market")
        if "Salesforce" in stack or "HubSpot" in stack:
            score += 10
            fired.append("crm-integration")
        if modern_stack:
            score += 10
            fired.append("modern-data-stack")
        if intent is not None:
            if intent >= 70:
                score += 15
                fired.append("intent-high")
            if 40 <= intent < 70:
                score += 7
                fired.append("intent-medium")
        if visits is not None:
            if visits >= 20:
                score += 10
                fired.append("web-visits-high")
            if 5 <= visits < 20:
                score += 5
                fired.append("web-visits-some")
        if activity_days is not None:
            if activity_days <= 30:
                score += 10
                fired.append("recent-activity")
            if 30 < activity_days <= 90:
                score += 5
                fired.append("activity-this-quarter")
        icp = DimResult(score, tuple(fired))

        # ---- segment (label: first match wins; default "Unsegmented")
        if (employees is not None and employees >= 1000) or (revenue is not None and revenue >= 250_000_000):
            segment = _SEG_ENTERPRISE
        elif industry in _DIGITAL_INDUSTRIES and modern_stack:
            segment = _SEG_DIGITAL
        elif (employees is not None and 100 <= employees < 1000) or (
            revenue is not None and 20_000_000 <= revenue < 250_000_000
        ):
            segment = _SEG_MID
        elif (employees is not None and employees < 100) or (revenue is not None and revenue < 20_000_000):
            segment = _SEG_SMB
        else:
            segment = _SEG_DEFAULT

        # ---- stage (label: first match wins; no default)
        is_customer = get("is_customer")
        since = get("customer_since")
        opportunities = get("open_opportunities")
        if is_customer is True and since is not None and (today - since).days > 365:
            stage = _ST_POST_SALE
        elif is_customer is True:
            stage = _ST_CUSTOMER
        elif opportunities is not None and opportunities > 0:
            stage = _ST_OPPORTUNITY
        elif intent is not None and intent >= 70 and visits is not None and visits >= 10:
            stage = _ST_MQA
        elif (visits is not None and visits >= 5) or (activity_days is not None and activity_days <= 30):
            stage = _ST_ENGAGED
        elif (
            (visits is not None and visits >= 1)
            or (intent is not None and intent >= 30)
            or (activity_days is not None and activity_days <= 180)
        ):
            stage = _ST_AWARE
        elif score >= 30:
            stage = _ST_QUALIFIED
        else:
            stage = _ST_NONE

        # ---- tier (label: first match wins; default "Tier 3")
        if score >= 70:
            tier = _TIER_1
        elif score >= 50:
            tier = _TIER_2
        else:
            tier = _TIER_3

        return {"icp_score": icp, "segment": segment, "stage": stage, "tier": tier}

    return evaluate


class HandwrittenEngine:
    """The hand-written evaluator behind the engine interface (``evaluate``/``close``)."""

    name = "handwritten"

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.evaluate = make_evaluator(now)

    def close(self) -> None:
        """Nothing to release."""


def audit(plan: Any) -> AuditSummary:
    """``run_audit`` with the hand-written evaluator: the same work as the pipeline's CSV path
    (``crmseg.audit.run._audit_csv_rows``) but for the evaluation — ``FileConnector.read_rows``
    (csv.reader rows as lists), the Normalizer converting only the fields the rules read
    (``row_account_of``), if/elif, and the same ``AuditSummary`` adder and pin check.

    ``plan`` comes from ``crmseg.audit.plan.plan_source`` on a CSV file; only its connector,
    normalizer, run time and the dimension descriptions (for the summary) are used."""
    started = time.perf_counter()
    dims = plan.rules.names
    used = plan.rules.used_fields()
    summary = AuditSummary(plan.rules.dimensions, used, plan.min_segment_size)
    norm = plan.normalizer
    mapping = norm.mapping
    evaluate = make_evaluator(plan.now)
    bound: list[Any] = []

    def on_header(names: list[str]) -> None:
        columns = {name: i for i, name in enumerate(names)}
        pin = columns.get(mapping.pin_field) if mapping.pin_field else None
        bound[:] = [
            norm.row_account_of(used, columns),
            summary.record_adder({d: mapping.tag_field(d) for d in dims}, columns),
            pin,
        ]

    pin_value = norm.pin_value
    for rid, row in plan.connector.read_rows(on_header):
        account, add, pin = bound
        add(row, evaluate(account(rid, row)), False if pin is None else pin_value(row[pin]))
    summary.metadata.update(
        {
            "source": plan.source,
            "rules_dir": plan.rules_dir,
            "mapping": plan.mapping.path,
            "engine": HandwrittenEngine.name,
            "started_at": plan.now.isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - started, 3),
        }
    )
    summary.finish(norm.quality, plan.rules.warnings)
    return summary
