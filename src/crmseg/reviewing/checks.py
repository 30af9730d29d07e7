"""The refusals both review sources share, each a :class:`~crmseg.errors.ConfigError` naming the
cause (exit 2, nothing computed): a ``customer`` expression that does not check, deals in
several currencies when nothing says their amounts are in one home currency, no deals, no
deal's account among the accounts, a period in which no deal closed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from crmseg.config.review import ReviewConfig
from crmseg.deals.table import OPEN, DealTable
from crmseg.errors import ConfigError
from crmseg.review.period import Period
from crmseg.rules.model import RuleSet

__all__ = ["check_currencies", "check_deals", "customer_check"]

SHOWN = 5  # ids named in a message


def customer_check(expression: str, rules: RuleSet) -> Callable[[Mapping[str, Any]], bool]:
    """The ``[review] customer`` condition compiled over the dimensions' values (a label's text, a
    score's number). ConfigError naming the expression when it does not parse or check: it may
    read only the dimensions, whose values crmseg records over time."""
    from crmseg.rules.closures import compile_pred
    from crmseg.rules.ir import Lowering
    from crmseg.rules.parser import ExprError, parse

    types = {d.name: "float" if d.kind == "score" else "str" for d in rules.dimensions}
    try:
        pred = Lowering(types, []).predicate(parse(expression))
    except ExprError as exc:
        raise ConfigError(
            f"[review] customer = {expression!r}: col {exc.col}: {exc.message} (the expression reads the "
            f"dimensions: {', '.join(types)})"
        ) from None
    except RecursionError:
        raise ConfigError(f"[review] customer = {expression!r}: expression too deeply nested") from None
    check = compile_pred(pred, datetime.now(UTC))
    scores = {d.name for d in rules.dimensions if d.kind == "score"}

    def is_customer(labels: Mapping[str, Any]) -> bool:
        values = {k: _score(v) if k in scores else v for k, v in labels.items()}
        return bool(check(values))

    return is_customer


def _score(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def check_currencies(currencies: Iterable[str], settings: ReviewConfig, where: str) -> None:
    """A file's amounts must be in one currency: refuse several currencies unless ``home_currency``
    says the amounts were converted to it already."""
    if settings.home_currency is not None:
        return
    codes = sorted(set(currencies))
    if len(codes) > 1:
        raise ConfigError(
            f"{where}: deals in {len(codes)} currencies ({', '.join(codes)}) and nothing says their amounts "
            "are in one home currency, so deal sizes and won amounts cannot be added up. If the amount "
            "column is already converted, say to which: --home-currency CODE (or [review] home_currency); "
            "otherwise convert the amounts first"
        )


def check_deals(deals: DealTable, known: np.ndarray, period: Period, where: str, source: str) -> list[str]:
    """ConfigError when nothing can be computed; else the warnings about unknown accounts.
    ``known``: per account number, whether it is among the accounts of ``source``."""
    if not len(deals):
        raise ConfigError(f"{where}: no deals to review")
    named = deals.account[deals.account >= 0]
    known = np.pad(known, (0, max(0, len(deals.accounts) - len(known))))
    strangers = named[~known[named]]
    ids = deals.accounts.ids
    unknown = sorted(ids[a] for a in np.unique(strangers).tolist())
    if len(named) and len(unknown) == len(np.unique(named)):
        raise ConfigError(
            f"{where}: none of the deals' {len(unknown)} accounts is among the accounts of {source} "
            f"(e.g. {', '.join(unknown[:SHOWN])}): is it the right accounts file or sync?"
        )
    closed = deals.closed[(deals.status != OPEN) & (deals.closed != 0)]
    if not np.any((closed >= period.start.toordinal()) & (closed <= period.end.toordinal())):
        span = "no deal has closed"
        if len(closed):
            span = f"deals closed from {date.fromordinal(int(closed.min()))} to {date.fromordinal(int(closed.max()))}"
        raise ConfigError(
            f"no deal closed in the period {period.start} – {period.end} ({span}): nothing to review; "
            "choose another --period or --since/--until"
        )
    out: list[str] = []
    if unknown:
        out.append(
            f"{len(strangers)} deal(s) name {len(unknown)} account(s) not among the accounts of {source} "
            f"({', '.join(unknown[:SHOWN])}{', …' if len(unknown) > SHOWN else ''}): left out of the labels"
        )
    return out
