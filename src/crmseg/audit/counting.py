"""The audit's streaming counters: per dimension, the labels, rule hits, would-change counts and
moves, score stats and the segment x tier crosstab, over every account of a run.

``Counters.add`` (or an adder from ``record_adder``) is called once per account (1M+ accounts
per run), so it does O(dimensions) work with plain dicts and stores nothing per account: each
account's outcome is tallied, and each distinct outcome turned into texts and counted once
(``_flush``). The results, data quality and warnings built on these counts:
:mod:`crmseg.audit.summary`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from crmseg.model import NONE_LABEL, DimResult
from crmseg.tags import tag_text

_NO_RESULT = DimResult(None)
_TEXT_CACHE_LIMIT = 10_000
_COMBOS_MAX = 10_000
_TALLY_FLUSH = 50_000  # accounts between two counts of the tallies: memory stays flat
_MISS = object()


class DimInfo(Protocol):
    """What the summary needs to know about a dimension (any object with these attributes)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...  # "label" | "score"
    @property
    def values(self) -> Sequence[str] | None: ...  # the allow-list, if any
    @property
    def rule_names(self) -> Sequence[str]: ...  # enabled rules, file order
    @property
    def description(self) -> str: ...


class DimStats:
    """Running counters of one dimension."""

    __slots__ = (
        "changes",
        "counts",
        "description",
        "fired",
        "is_score",
        "isum",
        "kind",
        "moves",
        "name",
        "rule_names",
        "spilled",
        "values",
        "vmax",
        "vmin",
        "vnum",
        "vsum",
    )

    def __init__(self, info: DimInfo) -> None:
        self.name: str = info.name
        self.kind: str = info.kind or "label"
        self.is_score: bool = self.kind == "score"
        self.description: str = info.description or ""
        self.values: list[str] = list(info.values or [])
        self.counts: dict[str, int] = {}
        self.rule_names: list[str] = list(info.rule_names)
        self.fired: dict[tuple[str, ...], int] = {}  # the fired rules of an account -> accounts
        self.spilled: dict[str, int] = {}  # per-rule hits once ``fired`` holds _COMBOS_MAX combinations
        # [unchanged, changed, added, cleared], in CHANGE_KINDS order.
        self.changes: list[int] = [0, 0, 0, 0, 0]  # + pinned: would differ, never written
        self.vmin: float = math.inf
        self.vmax: float = -math.inf
        self.vsum: float = 0.0  # float totals, added as they come
        self.isum: int = 0  # int totals, exact (so the mean does not depend on when tallies are counted)
        self.vnum: int = 0
        #: (CRM now, computed) -> accounts that would be written (pinned ones left out).
        self.moves: dict[tuple[str, str], int] = {}

    @property
    def ordered(self) -> bool:
        """An ordered scale (tiers, stages): a label dimension with ``values`` that is not a segment."""
        return not self.is_score and bool(self.values) and "segment" not in self.name

    @property
    def hits(self) -> dict[str, int]:
        """Rule -> accounts it fired for (every enabled rule listed, file order first; a label
        counts its first rule only)."""
        hits = dict.fromkeys(self.rule_names, 0)
        for rules, n in [*self.fired.items(), *(((r,), n) for r, n in self.spilled.items())]:
            for r in rules if self.is_score else rules[:1]:
                hits[r] = hits.get(r, 0) + n
        return hits


class Counters:
    """The streaming counters of one run (see the module's docstring)."""

    def __init__(self, dimensions: Sequence[DimInfo]) -> None:
        self._dimensions: list[DimStats] = [DimStats(d) for d in dimensions]
        self.accounts = 0
        self.pinned = 0
        #: Accounts a sync would write (a mapped tag differs, not pinned); counted when ``count_changed``.
        self.changed_accounts = 0
        #: The dimensions with a CRM tag field, set before the first account when ``changed_accounts``
        #: is wanted (the change guard); None: not counted (it costs a little per account).
        self.written_dims: frozenset[str] | None = None
        self._text: dict[str, str | None] = {}
        self._nums: dict[float, str | None] = {}
        seg = [i for i, d in enumerate(self._dimensions) if not d.is_score and "segment" in d.name]
        tier = [i for i, d in enumerate(self._dimensions) if "tier" in d.name]
        #: segment x tier: (dimension indexes) and (segment, tier) -> accounts.
        self._cross: tuple[int, int] | None = (seg[0], tier[0]) if seg and tier else None
        self._crosstab: dict[tuple[str, str], int] = {}
        self._cross_tally: dict[tuple[Any, Any], int] = {}  # (segment value, tier value) -> accounts, not yet counted
        self._current_adder: Callable[[Mapping[str, Any], Mapping[str, DimResult], bool], None] | None = None
        slots: dict[int, tuple[int, ...]] = {}
        for k, i in enumerate(self._cross or ()):
            slots[i] = (*slots.get(i, ()), k)
        #: Per dimension: outcomes tallied by ``add`` and not yet counted (see ``_flush``).
        self._tallies: list[dict[tuple[Any, ...], int]] = [{} for _ in self._dimensions]
        self._plan = [
            (d.name, d if d.is_score else None, t, slots.get(i, ()))
            for i, (d, t) in enumerate(zip(self._dimensions, self._tallies, strict=True))
        ]

    @property
    def crosstab(self) -> dict[tuple[str, str], int]:
        """(segment, tier) texts -> accounts, up to date."""
        self._flush()
        return self._crosstab

    @property
    def dimensions(self) -> list[DimStats]:
        """Each dimension's counters, up to date (outcomes still tallied are counted first)."""
        self._flush()
        return self._dimensions

    def _tag(self, value: Any) -> str | None:
        """``tag_text``, memoized for texts and numbers (labels, scores and CRM values repeat a lot)."""
        if value is None:
            return None
        cls = value.__class__
        memo = self._text if cls is str else self._nums if cls is int or cls is float else None
        if memo is None:
            return tag_text(value)
        text = memo.get(value, _MISS)
        if text is _MISS:
            text = tag_text(value)  # 1 and 1.0 are one key and one text; bools never get here
            if len(memo) < _TEXT_CACHE_LIMIT:
                memo[value] = text
        return text  # type: ignore[return-value]  # not _MISS here: a str or None from tag_text or the memo

    def add(
        self, account_id: str, results: Mapping[str, DimResult], current: Mapping[str, Any], pinned: bool = False
    ) -> None:
        """Count one account's results and how they compare with the CRM's current tags.

        A pinned account's differing tags count as ``pinned`` (never written), not as changes.

        Per dimension the outcome (computed value, fired rules, CRM value, pinned) is tallied,
        and each distinct outcome is turned into texts and counted once, in first-seen order
        (``_flush``), when the tally grows large and before any figure is read: the same
        counts, rule combinations and spill order as counting one account at a time."""
        adder = self._current_adder
        if adder is None:
            adder = self._current_adder = self._make_adder({d.name: d.name for d in self._dimensions}, False)
        adder(current, results, pinned)

    def record_adder(
        self, tag_fields: Mapping[str, str | None], columns: Mapping[str, int] | None = None
    ) -> Callable[[Any, Mapping[str, DimResult], bool], None]:
        """``add`` for raw records: ``adder(fields, results, pinned)`` reads each dimension's
        current tag from the record's ``fields`` (CRM field ``tag_fields[dimension]``, None:
        unmapped) exactly as ``Normalizer.current_tags`` gives it, without building that dict.
        ``columns`` (field -> position): ``fields`` is a CSV row as a list instead."""
        return _build_adder(self, tag_fields, True, columns)

    def _make_adder(
        self, tag_fields: Mapping[str, str | None], strip: bool
    ) -> Callable[[Mapping[str, Any], Mapping[str, DimResult], bool], None]:
        """The per-account tally. Values and CRM values are kept raw when they are exact
        ``str``/``int``/``float`` (equal keys then have equal texts: ``tag`` maps 1 and 1.0
        alike, and is idempotent on its own texts); anything else becomes its text here.
        ``strip``: a CRM text of a ``str`` subclass is stripped first (``current_tags``).
        A plain loop over the dimensions (``_build_adder``): generated straight-line code was
        under 10% faster over the audit benchmark, not worth a second implementation."""
        return _build_adder(self, tag_fields, strip)

    def _flush(self) -> None:
        """Count the tallied outcomes into the per-dimension counters (first-seen order)."""
        tag = self._tag
        for d, tally in zip(self._dimensions, self._tallies, strict=True):
            if not tally:
                continue
            counts, fired, changes, moves = d.counts, d.fired, d.changes, d.moves
            score = d.is_score
            for key, n in tally.items():
                value, rules, before, pinned = key[0], key[1], key[2], key[3]
                if score and value.__class__ is int and len(key) == 4:  # float totals: added as they came
                    d.isum += value * n
                    d.vnum += n
                    if value < d.vmin:
                        d.vmin = value
                    if value > d.vmax:
                        d.vmax = value
                after = tag(value)
                before = tag(before)
                label = NONE_LABEL if after is None else after
                counts[label] = counts.get(label, 0) + n
                if rules:  # one count per combination of fired rules; per rule in ``hits``
                    m = fired.get(rules)
                    if m is not None:
                        fired[rules] = m + n
                    elif len(fired) < _COMBOS_MAX:
                        fired[rules] = n
                    else:  # memory stays flat whatever the rules: count per rule from here on
                        spilled = d.spilled
                        for r in rules if d.is_score else rules[:1]:
                            spilled[r] = spilled.get(r, 0) + n
                # Same outcome as diff.classify, on the texts.
                if before == after:
                    changes[0] += n
                    continue
                if pinned:
                    changes[4] += n
                    continue
                move = (NONE_LABEL if before is None else before, label)
                moves[move] = moves.get(move, 0) + n
                if before is None:
                    changes[2] += n
                elif after is None:
                    changes[3] += n
                else:
                    changes[1] += n
            tally.clear()
        crosstab = self._crosstab
        for (a, b), n in self._cross_tally.items():
            key2 = (tag(a) or NONE_LABEL, tag(b) or NONE_LABEL)
            crosstab[key2] = crosstab.get(key2, 0) + n
        self._cross_tally.clear()


def _build_adder(
    counters: Counters, tag_fields: Mapping[str, str | None], strip: bool, columns: Mapping[str, int] | None = None
) -> Callable[[Any, Mapping[str, DimResult], bool], None]:
    """``counters``' per-account adder (see ``Counters._make_adder``) over its dimensions'
    tallies; ``columns`` (CRM field -> position): ``fields`` is a CSV row as a list, every cell a
    ``str``, and a field without a column reads as None."""
    tag = counters._tag
    if strip:

        def conv(before: Any, /) -> str | None:
            return tag((before.strip() or None) if isinstance(before, str) else before)
    else:
        conv = tag
    # per dimension: name, where its CRM tag is (field name, column position, None: unmapped),
    # its stats when a score, its tally, its crosstab slots
    # and whether a sync writes it (counted in ``changed_accounts``)
    dims: list[tuple[str, Any, DimStats | None, dict[tuple[Any, ...], int], tuple[int, ...], bool]] = []
    written = counters.written_dims
    for name, score, tally, slots in counters._plan:
        field = tag_fields.get(name)
        where = field if columns is None or field is None else columns.get(field)
        dims.append((name, where, score, tally, slots, written is not None and name in written))
    cross = counters._cross is not None
    cross_tally, flush, flush_at = counters._cross_tally, counters._flush, _TALLY_FLUSH
    pending = 0  # accounts tallied by this adder since it last flushed

    def adder(fields: Any, results: Mapping[str, DimResult], pinned: bool) -> None:
        nonlocal pending
        counters.accounts += 1
        if pinned:
            counters.pinned += 1
        changed = pinned or written is None  # True: nothing (more) to find out about this account
        slot_values: list[Any] = [None, None]  # (segment, tier) values for the crosstab
        for name, where, score, tally, slots, writes in dims:
            res = results.get(name, _NO_RESULT)
            value = res.value
            cls = value.__class__
            if where is None:
                before = None
            elif columns is not None:
                before = fields[where]
            else:
                before = fields.get(where)
                if before is not None and before.__class__ is not str:
                    before = conv(before)
            key: tuple[Any, ...]
            if score is not None and cls is float:
                # float totals reach the stats as they come, tallied under a 5-tuple so that 5.0
                # never merges with 5; int totals reach them from the tally in ``_flush`` (exactly)
                score.vsum += value
                score.vnum += 1
                if value < score.vmin:
                    score.vmin = value
                if value > score.vmax:
                    score.vmax = value
                key = (value, res.rules, before, pinned, None)
            else:
                if value is not None and cls is not str and cls is not int and (score is not None or cls is not float):
                    value = tag(value)
                key = (value, res.rules, before, pinned)
            tally[key] = tally.get(key, 0) + 1
            if not changed and writes and tag(value) != tag(before):  # as _flush compares them
                changed = True
                counters.changed_accounts += 1
            for k in slots:
                slot_values[k] = value
        if cross:
            key2 = (slot_values[0], slot_values[1])
            cross_tally[key2] = cross_tally.get(key2, 0) + 1
        pending += 1
        if pending >= flush_at:
            pending = 0
            flush()

    return adder
