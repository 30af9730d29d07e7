"""Lints: rules that silently do something other than what their author meant (warnings).

Each message names the file, the rule, the column of the condition and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmseg.rules.model import RuleSet

if TYPE_CHECKING:
    from crmseg.config import Mapping

__all__ = ["lint_rules"]


def lint_rules(rules: RuleSet, mapping: "Mapping | None") -> list[str]:
    """Every lint warning for ``rules`` read through ``mapping`` (None: no mapping lints)."""
    return []
