"""The review's inputs from a sync's state (``--config``): the deals the sync keeps, attributed
from crmseg's own tag history (``--attribute created|closed|current``); each account's label at
the period's start and end from the same history (accounts in and out, PSI, churn); account
facts (measurable, accessible) from the sync's local copy of the accounts. Reads the state only.
The refusals both sources share: :mod:`crmseg.reviewing.checks`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain
from typing import Any, Literal

import numpy as np

from crmseg.config import Config, FileSync, load_mapping
from crmseg.config import Mapping as MappingConfig
from crmseg.deals.table import AccountIndex, DealTable, micros
from crmseg.deals.timelines import NO_LABEL, Timeline, attribute_table, timelines
from crmseg.errors import ConfigError
from crmseg.model import RawRecord
from crmseg.review.assemble import DimensionInputs, ReviewInputs
from crmseg.review.frame import AccountLabels
from crmseg.review.metrics import Churn
from crmseg.review.period import Period
from crmseg.reviewing.checks import check_currencies, check_deals, customer_check
from crmseg.reviewing.dimensions import plan_dimensions
from crmseg.reviewing.facts import SegmentFacts, accessible_check
from crmseg.reviewing.request import ReviewRequest
from crmseg.rules.model import RuleSet

__all__ = ["state_inputs"]


def _sync_mapping(cfg: Config, sync: Any) -> MappingConfig:
    from crmseg.audit.plan import default_mapping

    if sync.mapping:
        return load_mapping(cfg.resolve(sync.mapping))
    if isinstance(sync, FileSync):
        return load_mapping(default_mapping(cfg.resolve(sync.rules)))
    raise ConfigError(f"{cfg.path}: syncs.{sync.name}.mapping is required for connector '{sync.connector}'")


def _at_end(day: date) -> datetime:
    """The last instant of ``day`` (UTC): a label recorded that day held at the period's end."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC) - timedelta(microseconds=1)


def state_inputs(cfg: Config, sync_name: str | None, request: ReviewRequest) -> ReviewInputs:
    """The review's inputs from one sync's state (see the module's docstring)."""
    from crmseg.audit.plan import prepare_rules
    from crmseg.state import open_state

    sync = cfg.sync(sync_name)
    settings = request.settings
    mapping = _sync_mapping(cfg, sync)
    store = open_state(cfg, create=False)
    if store is None:
        raise ConfigError(f"{cfg.path}: no state yet ({cfg.resolve(cfg.state.path)}): run `crmseg sync` first")
    index = AccountIndex()  # one numbering of accounts for the deals, the history and the local copy
    start_at = datetime.combine(request.period.start, time(0), tzinfo=UTC)
    end_at = _at_end(request.period.end)
    try:
        deals = DealTable.from_rows(store.deal_rows(sync.name), index)
        if not len(deals):
            how = 'deals = "deals.csv"' if isinstance(sync, FileSync) else "deals = true"
            raise ConfigError(
                f"sync {sync.name!r} has no deals in its state: set {how} on the sync and run `crmseg sync`"
            )
        accounts = store.iter_accounts(sync.name)
        head = next(accounts, None)
        columns = sorted(head[1]) if head is not None else []  # a file sync's columns, for passthrough fields
        now = request.as_of or datetime.now(UTC)
        normalizer, rules = prepare_rules(cfg.resolve(sync.rules), mapping, columns, isinstance(sync, FileSync), now)
        plan = plan_dimensions(rules, request)
        dims = plan.dimensions
        names = [d.name for d in dims]
        wanted = list(dict.fromkeys(names + rules.names)) if settings.customer else names
        lines = timelines(store.label_rows(sync.name, wanted), index, wanted)
        held = {name: _held(lines[name], start_at, end_at, len(index)) for name in wanted}
        # the local copy, streamed: which accounts it holds and, for viability, each one's facts
        types = normalizer.field_types(columns)
        segments = [d for d in dims if plan.segment(d)]
        facts = SegmentFacts(rules, segments, accessible_check(settings, types, request.period.end))
        account_of = None
        if segments:  # the fields viability reads: the segment rules' and the accessible ones
            read = set().union(*(d.fields for d in segments))
            account_of = normalizer.account_of(read | {settings.owner_field, settings.activity_field})
        ends = [(d.name, held[d.name].end.labels()) for d in segments]  # per account number, a list
        seen: list[int] = []
        for rid, raw in chain([head] if head is not None else [], accounts):
            a = index.find(rid)
            if a < 0:
                continue  # no deal and no recorded label: nothing to say about it
            seen.append(a)
            if account_of is not None:
                labels = [(name, label) for name, by in ends if (label := by[a]) is not None]
                if labels:
                    facts.add(rid, labels, account_of(RawRecord(rid, raw)))
        known = np.zeros(len(index), dtype=bool)
        known[seen] = True
    finally:
        store.close()
    if isinstance(sync, FileSync):
        check_currencies(deals.currencies, settings, f"sync {sync.name!r} ({sync.deals})")
    warnings = check_deals(deals, known, request.period, f"sync {sync.name!r}", f"sync {sync.name!r}")
    warnings += _history_warnings(held, request.period)
    churn: dict[str, Churn] | None = None
    if settings.customer:
        churn, note = _churn(settings.customer, rules, held)
        warnings += note
    mode = request.attribute or "created"
    inputs = [
        DimensionInputs(
            d.name,
            plan.kind(d),
            attribute_table(deals, lines[d.name], mode),
            held[d.name].end,
            held[d.name].start,
            churn.get(d.name) if churn is not None else None,
            plan.ladder(d),
            plan.segment(d),
            facts.out.get(d.name, ()),
        )
        for d in dims
    ]
    if request.attribute == "current":
        warnings.append("--attribute current: every deal counts for its account's label today, not when it was made")
    warnings.append("measurable and accessible use the accounts' fields as last read, not as they were in the period")
    return ReviewInputs(request.period, request.compare, inputs, warnings)


@dataclass(frozen=True, slots=True)
class _Held:
    """One dimension's labels at the period's start and end, from its tag history.

    ``begins``: when the history starts (None: nothing recorded); ``reach``: ``"period"`` when it
    starts by the period's start, ``"inside"`` after its start, ``"after"`` after its end. Only a
    history that reaches the start tells the labels there (``start``; else None); one that starts
    after the end gives each account its earliest recorded label at the end, as a deal older than
    the history is backfilled."""

    begins: datetime | None
    reach: Literal["period", "inside", "after"]
    start: AccountLabels | None
    end: AccountLabels


def _held(line: Timeline, start_at: datetime, end_at: datetime, n: int) -> _Held:
    begins = line.start
    when = None if begins is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=begins)
    if begins is not None and begins > micros(end_at):
        return _Held(when, "after", None, AccountLabels(line.labels_at(end_at, n, backfill=True), line.names))
    end = AccountLabels(line.labels_at(end_at, n), line.names)
    if begins is not None and begins > micros(start_at):
        return _Held(when, "inside", None, end)
    return _Held(when, "period", AccountLabels(line.labels_at(start_at, n), line.names), end)


def _history_warnings(held: Mapping[str, _Held], period: Period) -> list[str]:
    """What a tag history that does not reach the period's start leaves out, once per start day."""
    out: list[str] = []
    for reach in ("after", "inside"):
        days: dict[date, list[str]] = {}
        for name, h in held.items():
            if h.reach == reach and h.begins is not None:
                days.setdefault(h.begins.date(), []).append(name)
        for day, names in days.items():
            which = f"the tag history of {', '.join(names)} starts on {day}"
            if reach == "after":
                out.append(
                    f"{which}, after the period ({period.start} – {period.end}): deals and accounts count for "
                    "each account's earliest recorded label (backfilled), not the one it held then; accounts "
                    "in/out, PSI and churn are not measured"
                )
            else:
                out.append(
                    f"{which}, after the period's start ({period.start}): accounts in/out, PSI and churn need "
                    "each account's label at the start and are not measured"
                )
    return out


def _churn(expression: str, rules: RuleSet, held: Mapping[str, _Held]) -> tuple[dict[str, Churn] | None, list[str]]:
    """Per dimension whose history reaches the period's start, the churn of its labels: accounts
    that were customers (``expression`` over their labels) at the start and no longer are at the
    end. None, with a warning, when a dimension the expression reads has no labels at the start."""
    is_customer = customer_check(expression, rules)
    missing = [name for name in _dimensions_read(expression, rules) if name in held and held[name].start is None]
    if missing:
        what = f"[review] customer reads {', '.join(missing)}, whose tag history does not reach the period's start"
        return None, [f"{what}: churn is not measured"]
    names = list(held)

    def customers(at_start: bool) -> np.ndarray:
        sides = [h.start if at_start else h.end for h in held.values()]
        n = len(held[names[0]].end.code)
        codes = [s.code if s is not None else np.full(n, NO_LABEL, np.int32) for s in sides]
        combos, inverse = _combinations(codes, [len(s.names) if s is not None else 0 for s in sides])
        flags = []  # accounts share few label combinations: each is checked once
        for row in combos:
            labels = {
                name: None if c == NO_LABEL or side is None else side.names[c]
                for name, c, side in zip(names, row, sides, strict=True)
            }
            flags.append(is_customer(labels))
        return np.array(flags, dtype=bool)[inverse]

    then, now = customers(True), customers(False)
    return {name: Churn.of_columns(h.start, then, now) for name, h in held.items() if h.start is not None}, []


def _combinations(codes: Sequence[np.ndarray], sizes: Sequence[int]) -> tuple[list[list[int]], np.ndarray]:
    """The distinct rows of label codes across dimensions (one code array per dimension, codes
    ``NO_LABEL`` … ``size`` − 1) and each account's row among them: one int64 key per account
    (mixed radix) when the codes fit in one, else rows compared as rows."""
    radix = [size + 1 for size in sizes]
    if math.prod(radix) < 2**62:
        key = np.zeros(len(codes[0]) if codes else 0, dtype=np.int64)
        for code, base in zip(codes, radix, strict=True):
            key = key * base + (code.astype(np.int64) + 1)
        keys, inverse = np.unique(key, return_inverse=True)
        rows: list[list[int]] = []
        for k in keys.tolist():
            row = []
            for base in reversed(radix):
                k, digit = divmod(k, base)
                row.append(digit - 1)
            rows.append(row[::-1])
        return rows, inverse.ravel()
    combos, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    return combos.tolist(), inverse.ravel()


def _dimensions_read(expression: str, rules: RuleSet) -> list[str]:
    """The dimensions a (checked) ``customer`` expression reads."""
    from crmseg.rules.ir import Lowering, fields_of
    from crmseg.rules.parser import parse

    types = {d.name: "float" if d.kind == "score" else "str" for d in rules.dimensions}
    read = fields_of(Lowering(types, []).predicate(parse(expression)))
    return [name for name in types if name in read]
