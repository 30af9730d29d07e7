"""The read -> normalize -> evaluate -> diff flow shared by audit (and later sync).

``audit`` is this pipeline stopped after the diff: it never writes to a CRM and
never touches sync state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from crmseg.config import Config, FileSync, Mapping, SyncConfig, load_config, load_mapping
from crmseg.connectors.base import Connector, RowLists
from crmseg.errors import ConfigError
from crmseg.model import RawRecord
from crmseg.normalize import _PIN_TEXTS, Normalizer
from crmseg.rules.engines import Engine, make_engine
from crmseg.rules.files import RuleFiles
from crmseg.rules.loader import load_rules
from crmseg.rules.model import RuleSet
from crmseg.summary import AuditSummary

log = logging.getLogger(__name__)
DEFAULT_MAPPING = Path("connectors") / "csv.toml"


@dataclass
class Plan:
    """Everything one run needs, validated before any record is read."""

    connector: Connector
    mapping: Mapping
    rules: RuleSet
    normalizer: Normalizer
    engine: str
    now: datetime
    source: str
    rules_dir: str
    min_segment_size: int | None = None
    #: The rules+mapping fingerprint of what was loaded (set by the daemon, which may hold older rules).
    fingerprint: str | None = None
    #: Warnings about the run's setup (e.g. tag fields not created yet), shown with the report's.
    warnings: list[str] = field(default_factory=list)
    #: ``rules`` compiled for ``engine`` at ``now``: the inline tests and the run share it.
    compiled: Engine | None = None

    def rules_engine(self) -> Engine:
        """The plan's compiled rules (compiled on first use when the plan was built without them)."""
        if self.compiled is None:
            self.compiled = make_engine(self.engine, self.rules, self.now)
        return self.compiled

    def close(self) -> None:
        """Close the connector and the compiled engine."""
        self.connector.close()
        if self.compiled is not None:
            self.compiled.close()


def default_mapping(rules_dir: str | Path) -> Path:
    """``connectors/csv.toml`` in the working folder, else beside the rules folder, else the
    one shipped in the package."""
    from crmseg.defaults import packaged

    for candidate in (DEFAULT_MAPPING, Path(rules_dir).resolve().parent / DEFAULT_MAPPING):
        if candidate.is_file():
            return candidate
    shipped = packaged(DEFAULT_MAPPING)
    if shipped is None:
        raise ConfigError(f"no mapping given and {DEFAULT_MAPPING} not found; pass --mapping FILE")
    return shipped


def dimension_names(rules_dir: str | Path | RuleFiles) -> set[str]:
    """The ``dimension`` names of a rules folder, read leniently (the loader reports errors)."""
    if isinstance(rules_dir, RuleFiles):
        return rules_dir.dimension_names()
    try:
        return RuleFiles.read(rules_dir).dimension_names()
    except OSError:
        return set()


def prepare_rules(
    rules_dir: str | Path | RuleFiles,
    mapping: Mapping,
    columns: Iterable[str] = (),
    passthrough: bool = True,
    now: datetime | None = None,
) -> tuple[Normalizer, RuleSet]:
    """The normalizer for ``mapping`` and the rules checked against its fields (and ``columns``).

    The rule files are read once: their dimension names and the rules come from the same bytes."""
    files = RuleFiles.of(rules_dir)
    normalizer = Normalizer(mapping, passthrough=passthrough, run_started=now, reserved=files.dimension_names())
    return normalizer, load_rules(files, normalizer.field_types(columns))


def plan_source(
    source: str | Path,
    rules_dir: str | Path,
    mapping_path: str | Path | None,
    engine: str,
    now: datetime | None = None,
    **file_options: Any,
) -> Plan:
    """A plan for a CSV/JSONL file whose columns are canonical field names.

    ``file_options`` go to ``FileConnector`` (``delimiter``, ``encoding``, ``on_bad_row``)."""
    from crmseg.connectors.files import FileConnector

    now = now or datetime.now(UTC)
    mapping = load_mapping(mapping_path or default_mapping(rules_dir))
    connector = FileConnector(source, mapping=mapping, **file_options)
    normalizer, rules = prepare_rules(rules_dir, mapping, connector.columns(), True, now)
    compiled = make_engine(engine, rules, now)  # fails now, not after reading, if unavailable
    return Plan(connector, mapping, rules, normalizer, engine, now, str(source), str(rules_dir), compiled=compiled)


def _open_sync(
    config_path: str | Path | Config,
    sync_name: str | None,
    now: datetime,
    prepared: tuple[Mapping, RuleSet] | None = None,
    **connector_options: Any,
) -> tuple[Any, Mapping, Path, Connector, Normalizer, RuleSet]:
    """Load one sync of a config: its mapping, connector, normalizer and checked rules.

    ``prepared``: a mapping and rule set already loaded and checked (the daemon's last good
    ones), used instead of reading the files again."""
    from crmseg.connectors.factory import open_connector

    cfg = config_path if isinstance(config_path, Config) else load_config(config_path)
    sync = cfg.sync(sync_name)
    rules_dir = cfg.resolve(sync.rules)
    if prepared is not None:
        mapping = prepared[0]
    elif sync.mapping:
        mapping = load_mapping(cfg.resolve(sync.mapping))
    elif isinstance(sync, FileSync):
        mapping = load_mapping(default_mapping(rules_dir))
    else:
        raise ConfigError(f"{cfg.path}: syncs.{sync.name}.mapping is required for connector '{sync.connector}'")
    passthrough = isinstance(sync, FileSync)
    if isinstance(sync, FileSync):
        sync = sync.model_copy(update={"path": str(cfg.resolve(sync.path))})
    connector = open_connector(sync, mapping, **connector_options)
    if prepared is not None:
        rules = prepared[1]
        normalizer = Normalizer(mapping, passthrough=passthrough, run_started=now, reserved=rules.names)
        return sync, mapping, rules_dir, connector, normalizer, rules
    own_columns = connector.capabilities.passthrough
    columns = own_columns.columns() if own_columns is not None else ()
    normalizer, rules = prepare_rules(rules_dir, mapping, columns, passthrough, now)
    return sync, mapping, rules_dir, connector, normalizer, rules


def plan_config(
    config_path: str | Path | Config,
    sync_name: str | None,
    engine: str | None,
    now: datetime | None = None,
    writes: bool = False,
    *,
    prepared: tuple[Mapping, RuleSet] | None = None,
    compiled: Engine | None = None,
    **connector_options: Any,
) -> Plan:
    """A plan for one sync of a config (a file path or a loaded Config): file, Salesforce or HubSpot.

    ``writes``: the plan will write tags, so the tag fields must exist and be updateable.
    ``compiled``: ``prepared``'s rules compiled for this engine and ``now`` already."""
    now = now or datetime.now(UTC)
    sync, mapping, rules_dir, connector, normalizer, rules = _open_sync(
        config_path, sync_name, now, prepared, **connector_options
    )
    notes: list[str] = []
    try:
        if not isinstance(sync, FileSync):
            if not writes:
                mapping, normalizer, notes = _read_unprovisioned_as_empty(
                    connector, mapping, normalizer, rules, config_path, sync
                )
            _check_schema(connector, mapping, rules, writes=writes)
        kind = engine or sync.engine
        if compiled is None:
            compiled = make_engine(kind, rules, now)  # fails now, not after reading, if unavailable
    except BaseException:
        connector.close()
        raise
    source = sync.path if isinstance(sync, FileSync) else f"{sync.connector} sync '{sync.name}'"
    return Plan(
        connector,
        mapping,
        rules,
        normalizer,
        kind,
        now,
        str(source),
        str(rules_dir),
        sync.min_segment_size,
        warnings=notes,
        compiled=compiled,
    )


def _read_unprovisioned_as_empty(
    connector: Connector,
    mapping: Mapping,
    normalizer: Normalizer,
    rules: RuleSet,
    config_path: str | Path | Config,
    sync: SyncConfig,
) -> tuple[Mapping, Normalizer, list[str]]:
    """For a read-only run: tag and pin fields the CRM lacks yet are read as no current value,
    with one warning naming them and the command that creates them (``sync`` still refuses)."""
    from crmseg.connectors.schema_check import object_name, unprovisioned

    lacking = unprovisioned(connector, mapping, rules.names)
    if not lacking:
        return mapping, normalizer, []
    tags = {**mapping.tags, **{d: "" for d in lacking if d != "(pin)"}}
    pin = None if "(pin)" in lacking else mapping.pin_field
    mapping = mapping.model_copy(update={"tags": tags, "pin_field": pin})
    normalizer = Normalizer(
        mapping, passthrough=normalizer.passthrough, run_started=normalizer.run_started, reserved=rules.names
    )
    cfg = config_path.path if isinstance(config_path, Config) else config_path
    how = (
        f"`crmseg schema --config {cfg} --sync {sync.name} --provision`"
        if sync.connector == "hubspot"
        else f"Salesforce Setup (then check with `crmseg schema --config {cfg} --sync {sync.name}`)"
    )
    names = ", ".join(sorted(set(lacking.values())))
    note = (
        f"fields not found on {object_name(connector, mapping)}: {names}; read as no current "
        f"value (every account counts as 'added', none as pinned). Create them with {how} before `crmseg sync`"
    )
    log.warning(note)
    return mapping, normalizer, [note]


def schema_problems(
    config_path: str | Path, sync_name: str | None, provision: bool = False
) -> tuple[list[str], list[str]]:
    """(problems, created): the sync's mapping, tag fields included, against the CRM's schema.

    With ``provision`` (HubSpot), missing tag properties are created first, with the rule
    files' ``values`` as enumeration options.
    """
    from crmseg.connectors.schema_check import check_mapping

    sync, mapping, _, connector, _, rules = _open_sync(config_path, sync_name, datetime.now(UTC))
    if isinstance(sync, FileSync):
        raise ConfigError(f"sync '{sync.name}' reads a {sync.connector} file: there is no CRM schema to check")
    dims = {d.name: d.values for d in rules.dimensions}
    scores = {d.name for d in rules.dimensions if d.kind == "score"}
    created: list[str] = []
    if provision:
        provisioner = connector.capabilities.provision
        if provisioner is None:
            raise ConfigError(
                f"--provision works with HubSpot; create the {sync.connector} fields in Setup "
                "(or with the Metadata API), then run this check again"
            )
        created = provisioner.provision(dims, scores=sorted(scores))
    return check_mapping(connector, mapping, dims, scores=scores, writes=True), created


def _check_schema(connector: Connector, mapping: Mapping, rules: RuleSet, writes: bool = False) -> None:
    """Fail before reading (and before any write) when the mapping does not fit the CRM."""
    from crmseg.connectors.schema_check import check_mapping

    problems = check_mapping(
        connector,
        mapping,
        {d.name: d.values for d in rules.dimensions},
        scores={d.name for d in rules.dimensions if d.kind == "score"},
        writes=writes,
    )
    if problems:
        raise ConfigError("\n".join(problems))


def read_records(plan: Plan) -> Iterator[RawRecord]:
    """The connector's records for every field the mapping and tag fields need."""
    return plan.connector.read(plan.normalizer.read_fields(plan.rules.names))


def find_record(plan: Plan, record_id: str) -> RawRecord:
    for raw in read_records(plan):
        if raw.id == record_id:
            return raw
    raise ConfigError(f"{plan.source}: no record with id {record_id!r}")


def run_audit(
    plan: Plan, row_sink: Callable[[str, Any, Any], None] | None = None, tick: Callable[[int], None] | None = None
) -> AuditSummary:
    """Read every record, evaluate it and count what would change. Writes nothing."""
    from crmseg.rules.alerts import plan_alerts

    started = time.perf_counter()
    dims = plan.rules.names
    summary = AuditSummary(plan.rules.dimensions, plan.rules.used_fields(), plan.min_segment_size)
    alerts = plan_alerts(plan)
    summary.failed_tests, summary.rule_warnings = alerts.failed_tests, alerts.lints
    norm = plan.normalizer
    # The rules read their used fields alone, and the audit reports data quality for those
    # alone (``summary.finish``): the other mapped fields need no converting here.
    used = plan.rules.used_fields()
    account = norm.account_of(used)
    current_tags, pinned, add = norm.current_tags, norm.pinned, summary.add
    engine = plan.rules_engine()
    n = 0
    # evaluate() per account for every engine: durable's evaluate_many (1,000 accounts per
    # ruleset call) is faster but fails at some 1M-account inputs (durable-rules code 2), so
    # the audit does not use it
    row_lists = plan.connector.capabilities.row_lists
    if row_sink is None and row_lists is not None and not norm.passes_through(used):
        n = _audit_csv_rows(plan, row_lists, engine, summary, used, tick)
    elif row_sink is None:  # current tags read straight from the record (as current_tags gives them)
        evaluate = engine.evaluate
        add_record = summary.record_adder({d: norm.mapping.tag_field(d) for d in dims})
        for raw in read_records(plan):
            add_record(raw.fields, evaluate(account(raw)), pinned(raw))
            n += 1
            if tick is not None and n % 1000 == 0:
                tick(n)
    else:
        evaluate = engine.evaluate
        for raw in read_records(plan):
            results = evaluate(account(raw))
            current = current_tags(raw, dims)
            add(raw.id, results, current, pinned(raw))
            row_sink(raw.id, results, current)
            n += 1
            if tick is not None and n % 1000 == 0:
                tick(n)
    summary.metadata.update(
        {
            "source": plan.source,
            "rules_dir": plan.rules_dir,
            "mapping": plan.mapping.path,
            "engine": engine.name,
            "started_at": plan.now.isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - started, 3),
        }
    )
    limits = plan.connector.capabilities.api_limits
    if limits is not None:  # CRM connectors count their calls; Salesforce also reports Sforce-Limit-Info
        summary.metadata["api_calls"] = limits.calls
        usage = limits.api_usage
        if usage:
            summary.metadata["api_usage"] = f"{usage[0]:,}/{usage[1]:,} ({usage[0] / max(usage[1], 1):.1%})"
    skipped = plan.connector.capabilities.skipped_rows
    summary.skipped_rows = list(skipped.skipped) if skipped is not None else []
    summary.finish(norm.quality, plan.warnings)  # rule warnings are in summary.rule_warnings (alerts)
    return summary


def _audit_csv_rows(
    plan: Plan,
    connector: RowLists,
    engine: Any,
    summary: AuditSummary,
    used: list[str],
    tick: Callable[[int], None] | None,
) -> int:
    """``run_audit``'s loop over a CSV file's rows as lists (the ``row_lists`` capability):
    the normalizer, the summary and the pin read the columns by position, so no dict is
    built per row. Same accounts, current tags and pins as the RawRecord loop."""
    norm = plan.normalizer
    mapping = norm.mapping
    bound: list[Any] = []

    def on_header(names: list[str]) -> None:
        columns = {name: i for i, name in enumerate(names)}  # a repeated name: its last column, as a dict row
        pin = columns.get(mapping.pin_field) if mapping.pin_field else None
        bound[:] = [
            norm.row_account_of(used, columns),
            summary.record_adder({d: mapping.tag_field(d) for d in plan.rules.names}, columns),
            pin,
        ]

    evaluate, pin_value, pin_texts = engine.evaluate, norm.pin_value, _PIN_TEXTS
    n = 0
    rows = connector.read_rows(on_header)
    for rid, row in rows:  # the first row: the header has been read, the functions are bound
        account, add, pin = bound
        add(row, evaluate(account(rid, row)), False if pin is None else pin_value(row[pin]))
        n += 1
        break
    if not n:  # no rows
        return 0
    step = 1000 if tick is not None else 1 << 62  # progress every 1,000 rows, when asked for
    more = n
    while True:  # runs of ``step`` rows, no per-row progress check
        if pin is None:
            for more, (rid, row) in enumerate(islice(rows, step), n + 1):  # noqa: B007 - the row count, read after the loop
                add(row, evaluate(account(rid, row)), False)
        else:
            for more, (rid, row) in enumerate(islice(rows, step), n + 1):  # noqa: B007 - the row count, read after the loop
                v = row[pin]
                p = pin_texts.get(v)  # the usual "true"/"false"/blank; anything else as pinned() reads it
                add(row, evaluate(account(rid, row)), pin_value(v) if p is None else p)
        if more == n:
            return n
        n = more
        if tick is not None:
            tick(n)
