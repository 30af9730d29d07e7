"""The native engine: the checked IR compiled to one Python function (see ``codegen``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Iterator

from crmseg.model import DimResult
from crmseg.rules.closures import compile_pred, compile_value  # noqa: F401 - re-exported for callers
from crmseg.rules.engines.codegen import build
from crmseg.rules.model import RuleSet


class NativeEngine:
    """Evaluates every dimension with generated, compiled Python; identical results to ``durable``."""

    name = "native"

    def __init__(self, rules: RuleSet, now: datetime) -> None:
        self.rules = rules
        self.now = now
        self.evaluate = build(rules, now)

    def evaluate(self, account: dict[str, Any]) -> dict[str, DimResult]:  # type: ignore[no-redef]
        """Every dimension's result (replaced per instance by the compiled function)."""
        raise NotImplementedError  # pragma: no cover

    def evaluate_many(self, accounts: Iterable[dict[str, Any]]) -> Iterator[dict[str, DimResult]]:
        """``evaluate`` over many accounts, in order."""
        return map(self.evaluate, accounts)

    def close(self) -> None:
        """Nothing to release."""
