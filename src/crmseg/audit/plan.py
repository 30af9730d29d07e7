"""A run's plan: the connector, mapping, normalizer and checked rules of one sync of a config
or of a file, validated before any record is read. Audit, sync and the daemon start from it.

``audit`` is the read -> normalize -> evaluate -> diff flow on a plan (:mod:`crmseg.audit.run`),
stopped after the diff: it never writes to a CRM and never touches sync state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crmseg.audit.guard import ChangeLimit
from crmseg.config import Config, FileSync, Mapping, SyncConfig, load_config, load_mapping
from crmseg.connectors.base import Connector
from crmseg.connectors.schema_check import provision_hint
from crmseg.errors import ConfigError
from crmseg.model import RawRecord
from crmseg.normalize.normalizer import Normalizer
from crmseg.rules.engines import Engine, make_engine
from crmseg.rules.files import RuleFiles
from crmseg.rules.loader import load_rules
from crmseg.rules.model import RuleSet

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
    #: The sync's change guard (``max_changes``), reported by the audit; None: no guard.
    guard: ChangeLimit | None = None
    #: A read-only plan's mapping as configured, when tag fields the CRM lacks were dropped from
    #: ``mapping`` (read as empty); what a sync would write to (:func:`write_problems`).
    configured_mapping: Mapping | None = None

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
        resolved = {"path": str(cfg.resolve(sync.path))}
        if sync.deals:
            resolved["deals"] = str(cfg.resolve(sync.deals))
        sync = sync.model_copy(update=resolved)
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
    configured = mapping
    try:
        if not isinstance(sync, FileSync):
            if not writes:
                mapping, normalizer, notes = _read_unprovisioned_as_empty(
                    connector, mapping, normalizer, rules, config_path, sync
                )
            hint = provision_hint(connector, _config_path(config_path), sync.name) if writes else None
            _check_schema(connector, mapping, rules, writes=writes, hint=hint)
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
        guard=ChangeLimit.of(sync.max_changes),
        configured_mapping=configured if configured is not mapping else None,
    )


def _config_path(config: str | Path | Config) -> str:
    return str(config.path if isinstance(config, Config) else config)


def write_problems(plan: Plan, config: str | Path, sync_name: str | None) -> list[str]:
    """What ``sync`` would refuse about the CRM's tag fields for a CRM sync's plan (missing,
    not updateable, a picklist lacking a label of the rules), closed by the way out
    (:func:`~crmseg.connectors.schema_check.provision_hint`); empty when a sync would write.
    Uses the schema the plan fetched already: no API call."""
    from crmseg.connectors.schema_check import check_tags

    rules = plan.rules
    problems = check_tags(
        plan.connector,
        plan.configured_mapping or plan.mapping,
        {d.name: d.values for d in rules.dimensions},
        scores={d.name for d in rules.dimensions if d.kind == "score"},
    )
    if problems:
        problems.append(provision_hint(plan.connector, config, sync_name))
    return problems


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
    from crmseg.connectors.schema_check import create_fields_with, object_name, unprovisioned

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
    how = create_fields_with(connector, f"crmseg schema --config {cfg} --sync {sync.name}", sync.connector)
    names = ", ".join(sorted(set(lacking.values())))
    note = (
        f"fields not found on {object_name(connector, mapping)}: {names}; read as no current "
        f"value (every account counts as 'added', none as pinned). Create them with {how} before `crmseg sync`"
    )
    log.warning(note)
    return mapping, normalizer, [note]


def schema_problems(
    config_path: str | Path, sync_name: str | None, provision: bool = False
) -> tuple[list[str], list[str], list[str]]:
    """(problems, created, steps): the sync's mapping, tag fields included, against the CRM's schema.

    With ``provision``, missing tag properties are created first (HubSpot), with the rule
    files' ``values`` as enumeration options, or the steps that create them are returned
    (Dynamics: see :mod:`crmseg.connectors.dynamics_provision`).
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
        steps = connector.capabilities.provision_steps
        if provisioner is None and steps is not None:  # an admin creates them (Dynamics): say what
            todo = steps.provision_steps(dims, scores=sorted(scores))
            return check_mapping(connector, mapping, dims, scores=scores, writes=True), [], todo
        if provisioner is None:
            raise ConfigError(
                f"--provision works with HubSpot; create the {sync.connector} fields in Setup "
                "(or with the Metadata API), then run this check again"
            )
        created = provisioner.provision(dims, scores=sorted(scores))
    return check_mapping(connector, mapping, dims, scores=scores, writes=True), created, []


def _check_schema(
    connector: Connector, mapping: Mapping, rules: RuleSet, writes: bool = False, hint: str | None = None
) -> None:
    """Fail before reading (and before any write) when the mapping does not fit the CRM;
    ``hint`` closes the message when a tag field is what does not fit."""
    from crmseg.connectors.schema_check import check_mapping, check_tags

    dims = {d.name: d.values for d in rules.dimensions}
    scores = {d.name for d in rules.dimensions if d.kind == "score"}
    problems = check_mapping(connector, mapping, dims, scores=scores, writes=False)
    tags = check_tags(connector, mapping, dims, scores=scores) if writes else []
    if problems or tags:
        raise ConfigError("\n".join(problems + tags + ([hint] if tags and hint else [])))


def read_records(plan: Plan) -> Iterator[RawRecord]:
    """The connector's records for every field the mapping and tag fields need."""
    return plan.connector.read(plan.normalizer.read_fields(plan.rules.names))


def find_record(plan: Plan, record_id: str) -> RawRecord:
    for raw in read_records(plan):
        if raw.id == record_id:
            return raw
    raise ConfigError(f"{plan.source}: no record with id {record_id!r}")
