"""Engines run a checked RuleSet on accounts: ``native`` everywhere, ``durable`` where it imports.

``auto`` is ``native``: both give identical values and fired rules (a 1,000-case
differential test holds them to it), and native is faster at every run size — from one
account (no ruleset to build) to millions (benchmarks/RESULTS-issue9.md) — and needs no
compiler or Python <= 3.12. ``durable`` is there for who asks for it by name; its package,
durable-rules, is the optional ``crmseg[durable]`` extra.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol

from crmseg.errors import ConfigError
from crmseg.model import DimResult
from crmseg.rules.model import RuleSet

ENGINES = ("auto", "durable", "native")


class Engine(Protocol):
    """A RuleSet compiled for one clock (``days_since`` counts from ``now``)."""

    name: str

    def evaluate(self, account: dict[str, Any]) -> dict[str, DimResult]:
        """Every dimension's result, in dependency order; ``account`` is not modified."""
        ...

    def evaluate_many(self, accounts: Iterable[dict[str, Any]]) -> Iterator[dict[str, DimResult]]:
        """``evaluate`` of each account, in order (durable sends them in batches)."""
        ...

    def at(self, now: datetime, given: Collection[str] = ()) -> Engine:
        """The same compiled rules at another clock, with the dimensions named in ``given`` taken
        from the account instead of computed (an inline test may give upstream values), for
        the rules that read them. Nothing is compiled again: the copy shares this engine's
        compiled state, so it is used while this engine is open and needs no ``close``."""
        ...

    def close(self) -> None: ...


def durable_available() -> bool:
    """Whether durable-rules (the ``crmseg[durable]`` extra) imports here."""
    try:
        import durable_rules_engine  # noqa: F401 - imported only to see whether it loads
    except ImportError:
        return False
    return True


def durable_missing(version: tuple[int, int] = sys.version_info[:2]) -> str:
    """Why ``--engine durable`` cannot run without durable-rules, and what to do (on Python ``version``)."""
    msg = "engine 'durable' needs the durable-rules package: pip install 'crmseg[durable]'"
    if version >= (3, 13):
        return (
            f"{msg} on Python 3.12 or earlier; it does not build on Python 3.13 or later "
            f"(this is {version[0]}.{version[1]}): use --engine native (same results)"
        )
    return f"{msg} (it builds from C source: gcc and the Python headers), or use --engine native (same results)"


def engine_kind(kind: str) -> str:
    """The engine ``kind`` names (``auto`` is ``native``); ConfigError for an unknown name."""
    if kind not in ENGINES:
        raise ConfigError(f"unknown engine {kind!r}; allowed: {', '.join(ENGINES)}")
    return "native" if kind == "auto" else kind


def make_engine(kind: str, rules: RuleSet, now: datetime) -> Engine:
    """Compile ``rules`` for the engine named ``kind`` (``auto`` is ``native``: same results,
    faster at every size). Compiling is the costly part: reuse the engine (see ``Engine.at``)."""
    kind = engine_kind(kind)
    if kind == "durable":
        if not durable_available():
            raise ConfigError(durable_missing())
        from crmseg.rules.engines.durable import DurableEngine

        return DurableEngine(rules, now)
    from crmseg.rules.engines.native import NativeEngine

    return NativeEngine(rules, now)
