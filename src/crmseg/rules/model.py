"""Checked rule sets: dimensions, rules and inline tests, ready to compile to an engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crmseg.rules.ir import Pred

if TYPE_CHECKING:
    from crmseg.rules.files import RuleFiles


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    when: str
    pred: Pred
    value: Any = None  # label rules
    points: float = 0  # score rules
    description: str = ""


@dataclass(frozen=True, slots=True)
class TestCase:
    name: str
    account: dict[str, Any]
    expect: Any  # None = no value
    today: Any = None  # optional date the test runs at (for days_since)


@dataclass
class Dimension:
    name: str
    kind: str  # "label" | "score"
    path: str
    rules: list[Rule]  # enabled rules only, file order
    default: Any = None
    values: list[str] | None = None
    description: str = ""
    tests: list[TestCase] = field(default_factory=list)
    depends_on: set[str] = field(default_factory=set)  # other dimensions read
    fields: set[str] = field(default_factory=set)  # account fields read
    disabled: list[str] = field(default_factory=list)

    @property
    def rule_names(self) -> list[str]:
        return [r.name for r in self.rules]


@dataclass
class RuleSet:
    """Every dimension of a rules directory, in evaluation (dependency) order."""

    dimensions: list[Dimension]
    field_types: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    #: The rule files it was loaded from (their bytes give the sync's rules fingerprint).
    source: RuleFiles | None = field(default=None, repr=False, compare=False)

    def dimension(self, name: str) -> Dimension:
        for d in self.dimensions:
            if d.name == name:
                return d
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def used_fields(self) -> list[str]:
        """Account fields the rules read (not other dimensions), sorted."""
        return sorted(set().union(*(d.fields for d in self.dimensions)) if self.dimensions else set())
