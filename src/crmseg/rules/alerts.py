"""What a run must say about its rules before any result: failing inline tests and lints.

``check``, ``audit`` and ``sync`` all call :func:`rule_alerts`, so they report the same
problems; audit shows them at the top of every report and sync refuses rules whose tests fail.
"""

from __future__ import annotations

from collections.abc import Mapping as TMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmseg.rules.engines import Engine
from crmseg.rules.model import RuleSet
from crmseg.rules.testing import run_tests

if TYPE_CHECKING:
    from crmseg.config import Mapping
    from crmseg.model import SchemaField

__all__ = ["RuleAlerts", "plan_alerts", "rule_alerts"]


@dataclass
class RuleAlerts:
    """Failed inline tests (one message each) and lint warnings, in file order."""

    failed_tests: list[str] = field(default_factory=list)
    tests_run: int = 0
    lints: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.failed_tests and not self.lints


def rule_alerts(
    rules: RuleSet,
    mapping: Mapping | None,
    engine: str | Engine,
    now: datetime,
    schema: TMapping[str, SchemaField] | None = None,
) -> RuleAlerts:
    """Run the inline tests (tests without ``today`` run at ``now``) and the lints
    (``schema``: the CRM's fields, for the picklist lint). ``engine``: the rules compiled
    already, or the name of the engine to compile them with."""
    from crmseg.rules.lints import lint_rules

    outcomes = run_tests(rules, engine, now)
    lints = list(rules.warnings) + lint_rules(rules, mapping, schema)
    return RuleAlerts([o.message for o in outcomes if not o.ok], len(outcomes), lints)


def plan_alerts(plan: Any) -> RuleAlerts:
    """:func:`rule_alerts` for a run's plan, on the plan's compiled engine, with the CRM schema
    when the connector has one (CRM connectors cache it from the pre-run schema check, so this
    costs no API call)."""
    described = plan.connector.capabilities.object_schema
    schema = described.cached_schema() if described is not None else None
    return rule_alerts(plan.rules, plan.mapping, plan.rules_engine(), plan.now, schema)
