"""Read what a review needs — deals, labels over time, account facts — from a sync's state or
from files, and hand it to the pure statistics (:func:`crmseg.review.assemble.assemble`).

- **A sync's state** (``--config``): the deals the sync keeps, attributed from crmseg's own tag
  history (``--attribute created|closed|current``); each account's label at the period's start
  and end from the same history (accounts in and out, PSI, churn); account facts (measurable,
  accessible) from the sync's local copy of the accounts. Reads the state only.
- **Files** (``--source/--deals/--rules``): the accounts evaluated with the rules now (or at
  ``--as-of``), every deal attributed with that current evaluation — there is no history, so
  no accounts in/out, PSI or churn, and the review says so in its warnings.

Refused with a :class:`~crmseg.errors.ConfigError` naming the cause (exit 2, nothing computed):
no deals, no deal's account among the accounts, deals in several currencies when nothing says
their amounts are in one home currency, a period in which no deal closed, a ``customer``
expression that does not check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import numpy as np

from crmseg.config import Config, FileSync, load_mapping
from crmseg.config import Mapping as MappingConfig
from crmseg.config.review import ReviewConfig
from crmseg.dates import parse_iso
from crmseg.deals import AttributeMode
from crmseg.deals.table import OPEN, AccountIndex, DealTable, micros
from crmseg.deals.timelines import NO_LABEL, Timeline, attribute_table, current_table, timelines
from crmseg.errors import ConfigError
from crmseg.model import RawRecord
from crmseg.review.assemble import DimensionInputs, DimensionKind, ReviewInputs, ReviewSettings
from crmseg.review.frame import AccountLabels
from crmseg.review.metrics import Churn
from crmseg.review.period import Period
from crmseg.review.result import Review
from crmseg.review.viability import AccountFacts
from crmseg.rules.model import Dimension, RuleSet
from crmseg.tags import tag_text

__all__ = ["ReviewRequest", "customer_check", "file_inputs", "review_document", "settings_of", "state_inputs"]

SHOWN = 5  # ids named in a message


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """What one review covers: its periods, dimensions (None: the configured ones), attribution
    mode, the clock of a current evaluation, and the ``[review]`` settings."""

    period: Period
    compare: Period | None
    settings: ReviewConfig
    by: tuple[str, ...] | None = None
    attribute: AttributeMode | None = None  # None: created (the default), not asked for
    as_of: datetime | None = None


def settings_of(cfg: ReviewConfig) -> ReviewSettings:
    """The figures the statistics use, from ``[review]``."""
    a = cfg.alerts
    return ReviewSettings(cfg.min_closed, a.alpha, cfg.min_segment_size, a.decaying, a.out_of_order)


# ---------------------------------------------------------------- checks shared by both sources
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


def _ordered(rules: RuleSet, settings: ReviewConfig) -> tuple[str, ...]:
    """The tier ladders: ``[review] ordered``, else the label dimensions with values named like a tier."""
    if settings.ordered is not None:
        return settings.ordered
    return tuple(d.name for d in rules.dimensions if d.kind == "label" and d.values and "tier" in d.name)


def _segments(rules: RuleSet, settings: ReviewConfig) -> tuple[str, ...]:
    """The segment dimensions: ``[review] segments``, else the label dimensions named like a segment."""
    if settings.segments is not None:
        return settings.segments
    return tuple(d.name for d in rules.dimensions if d.kind == "label" and "segment" in d.name)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The reviewed dimensions, in order, with their kind, ladder and whether they are segments."""

    dimensions: list[Dimension]
    ordered: tuple[str, ...]
    segments: tuple[str, ...]

    def kind(self, d: Dimension) -> DimensionKind:
        if d.kind == "score":
            return "score"
        return "tiers" if d.name in self.ordered else "label"

    def ladder(self, d: Dimension) -> tuple[str, ...]:
        return tuple(d.values or ()) if d.name in self.ordered else ()

    def segment(self, d: Dimension) -> bool:
        return d.name in self.segments


def _dimensions(rules: RuleSet, request: ReviewRequest) -> _Plan:
    """The reviewed dimensions; ConfigError naming an unknown one or a ladder without values."""
    known = rules.names
    settings = request.settings
    ordered, segments = _ordered(rules, settings), _segments(rules, settings)
    names = list(settings.dimensions or known)
    for where, wanted in (
        ("[review] dimensions", names),
        ("--by", list(request.by or ())),
        ("[review] ordered", list(ordered)),
        ("[review] segments", list(segments)),
    ):
        for name in wanted:
            if name not in known:
                raise ConfigError(f"{where}: no dimension {name!r} in the rules (allowed: {', '.join(known)})")
    if request.by:
        names = list(request.by)
    for name in ordered:
        d = rules.dimension(name)
        if d.kind != "label" or not d.values:
            raise ConfigError(
                f"[review] ordered: {name!r} needs to be a label dimension whose rule file lists its "
                "values, top tier first (values = [...])"
            )
    return _Plan([rules.dimension(n) for n in dict.fromkeys(names)], ordered, segments)


def _label_fields(d: Dimension, dims: Iterable[str]) -> dict[str, frozenset[str]]:
    """Per label, the account fields its rules read (a label no rule sets, the default: every
    field of the dimension, since it is what is left when none of them matched)."""
    from crmseg.rules.ir import fields_of

    skip = set(dims)
    out: dict[str, set[str]] = {}
    for r in d.rules:
        if r.value is not None:
            out.setdefault(str(r.value), set()).update(f for f in fields_of(r.pred) if f not in skip)
    every = frozenset(f for f in d.fields if f not in skip)
    return {**{k: frozenset(v) for k, v in out.items()}, "": every}


def _check_currencies(currencies: Iterable[str], settings: ReviewConfig, where: str) -> None:
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


def _check_deals(deals: DealTable, known: np.ndarray, period: Period, where: str, source: str) -> list[str]:
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


class _Facts:
    """Viability's account facts, per segment dimension, gathered one account at a time."""

    def __init__(
        self,
        rules: RuleSet,
        segments: Sequence[Dimension],
        accessible: Callable[[Mapping[str, Any]], bool | None],
    ) -> None:
        self.fields = {d.name: {k: tuple(v) for k, v in _label_fields(d, rules.names).items()} for d in segments}
        self.accessible = accessible
        self.out: dict[str, list[AccountFacts]] = {d.name: [] for d in segments}

    def add(self, account: str, labels: Iterable[tuple[str, str]], data: Mapping[str, Any]) -> None:
        """``account``'s facts under its label in segment dimensions: ``labels`` (dimension, label)."""
        from crmseg.rules.semantics import is_set

        reachable = self.accessible(data)
        get = data.get
        for name, label in labels:
            fields = self.fields[name]
            read = fields.get(label, fields[""])
            measurable = True
            for f in read:
                if not is_set(get(f)):
                    measurable = False
                    break
            self.out[name].append(AccountFacts(account, label, measurable, reachable))


def _accessible(
    settings: ReviewConfig, types: Mapping[str, str], end: date
) -> Callable[[Mapping[str, Any]], bool | None]:
    """An owner and activity within ``activity_days`` of ``end``; None when the fields are not mapped."""
    from crmseg.rules.semantics import is_set

    owner, activity = settings.owner_field, settings.activity_field
    if owner not in types or activity not in types:
        return lambda data: None
    since = datetime.combine(end, time(0), tzinfo=UTC) - timedelta(days=settings.activity_days - 1)

    def check(data: Mapping[str, Any]) -> bool | None:
        if not is_set(data.get(owner)):
            return False
        when = data.get(activity)
        if isinstance(when, str):
            try:
                when = parse_iso(when)
            except ValueError:
                return False
        if isinstance(when, datetime):
            return when.astimezone(UTC) >= since
        if isinstance(when, date):
            return when >= since.date()
        return False

    return check


# ---------------------------------------------------------------- a sync's state
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
        plan = _dimensions(rules, request)
        dims = plan.dimensions
        names = [d.name for d in dims]
        wanted = list(dict.fromkeys(names + rules.names)) if settings.customer else names
        lines = timelines(store.label_rows(sync.name, wanted), index, wanted)
        held = {name: _held(lines[name], start_at, end_at, len(index)) for name in wanted}
        # the local copy, streamed: which accounts it holds and, for viability, each one's facts
        types = normalizer.field_types(columns)
        segments = [d for d in dims if plan.segment(d)]
        facts = _Facts(rules, segments, _accessible(settings, types, request.period.end))
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
        _check_currencies(deals.currencies, settings, f"sync {sync.name!r} ({sync.deals})")
    warnings = _check_deals(deals, known, request.period, f"sync {sync.name!r}", f"sync {sync.name!r}")
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


# ---------------------------------------------------------------- files
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
        chosen = _dimensions(rules, request)
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
    _check_currencies(deals.currencies, settings, str(deals_path))
    known = np.arange(len(index)) < n
    warnings = _check_deals(deals, known, request.period, str(deals_path), str(source))
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
    facts = _Facts(rules, segments, _accessible(settings, types, request.period.end))
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


# ---------------------------------------------------------------- the review
#: Periods in the quarter-by-quarter trend (the review's period last).
TREND_PERIODS = 6


def review_document(inputs: ReviewInputs, request: ReviewRequest, source: str) -> tuple[Review, dict[str, Any]]:
    """The review of ``inputs`` and its ``review --json`` document: the spec's keys, plus
    ``source``, ``attribute``, ``min_closed`` and ``quarters`` (the win rate per label over the last
    periods)."""
    from crmseg.review.assemble import assemble_with_trend, periods_before

    spans = periods_before(inputs.period, TREND_PERIODS, request.settings.fiscal_year_start_month)
    review, trend = assemble_with_trend(inputs, spans, settings_of(request.settings))
    doc = {
        "source": source,
        "attribute": inputs.dimensions[0].attribution.mode if inputs.dimensions else request.attribute or "created",
        **review.to_json(),
        "min_closed": request.settings.min_closed,
        "quarters": trend,
    }
    return review, doc
