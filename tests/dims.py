"""A minimal dimension description for summary and report tests (what a rules Dimension offers)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Dim:
    name: str
    kind: str = "label"
    values: list[str] | None = None
    rule_names: list[str] = field(default_factory=list)
    description: str = ""
