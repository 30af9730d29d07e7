"""``crmseg rules``: check and explain rule files (``rules diff`` lives in :mod:`crmseg.cli.rules_diff`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from crmseg.cli.lazy import Lazy, LazyGroup
from crmseg.cli.options import ENGINE, as_of_option, err
from crmseg.errors import ConfigError, RuleError

if TYPE_CHECKING:
    from crmseg.config import Mapping
    from crmseg.model import SchemaField
    from crmseg.rules.engines import Engine
    from crmseg.rules.model import RuleSet

#: ``crmseg rules NAME``: the rules subcommands defined in their own modules.
RULES: dict[str, Lazy] = {
    "diff": Lazy(
        "crmseg.cli.rules_diff:rules_diff",
        "Evaluate the --base rules and the new rules on the same accounts (read once) and show what moves.",
    ),
}


@click.group(cls=LazyGroup, lazy_subcommands=RULES)
def rules() -> None:
    """Check and explain rule files."""


@rules.command("check")
@click.option("--rules", "rules_dir", default="rules", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False),
    help="Mapping whose fields rules may use (default connectors/csv.toml).",
)
@click.option(
    "--source",
    type=click.Path(dir_okay=False, exists=True),
    help="Also know this file's columns, as `audit --source` does (undeclared ones as text).",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True),
    help="Check the rules of a sync, with its mapping and (CRM syncs) the CRM's picklist options.",
)
@click.option("--sync", "sync_name", help="Which sync of --config (needed when it has several).")
@ENGINE
@click.option("--strict", is_flag=True, help="Warnings (lints) fail the check too.")
def rules_check(
    rules_dir: str,
    mapping: str | None,
    source: str | None,
    config: str | None,
    sync_name: str | None,
    engine: str | None,
    strict: bool,
) -> None:
    """Parse, type-check and lint the rules, then run their inline tests.

    Exit 0 clean (warnings allowed unless --strict), 1 problems."""
    from crmseg.rules.alerts import rule_alerts

    if source is not None and config is not None:
        raise click.UsageError("give --source FILE or --config FILE, not both")
    now = datetime.now(UTC)
    if not Path(rules_dir).is_dir():
        raise ConfigError(f"{rules_dir}: rules directory not found")
    try:
        checked = _checked_rules(rules_dir, mapping, source, config, sync_name, engine)
    except RuleError as exc:
        for line in exc.problems:
            err(line)
        if source is None and config is None and any("unknown field" in p for p in exc.problems):
            err(
                "hint: `audit --source FILE` also knows the file's undeclared columns (as text); "
                "pass the same --source FILE to check them the same way"
            )
        err(f"{len(exc.problems)} problem(s) in {rules_dir}")
        sys.exit(1)
    ruleset = checked.rules
    try:
        alerts = rule_alerts(ruleset, checked.mapping, checked.engine or engine or "auto", now, checked.schema)
    finally:
        if checked.engine is not None:
            checked.engine.close()
    for w in alerts.lints:
        err(f"warning: {w}")
    for line in alerts.failed_tests:
        err(line)
    for line in checked.crm_problems:
        err(line)
    n_rules = sum(len(d.rules) for d in ruleset.dimensions)
    passed = alerts.tests_run - len(alerts.failed_tests)
    crm = len(checked.crm_problems) - 1  # the last line is the way out
    click.echo(
        f"{rules_dir}: {len(ruleset.dimensions)} dimensions ({', '.join(ruleset.names)}), {n_rules} rules, "
        f"{passed}/{alerts.tests_run} tests passed, {len(alerts.lints)} warning(s)"
        + (f", {crm} problem(s) with the CRM's tag fields" if crm > 0 else "")
        + (" (--strict: warnings fail)" if strict and alerts.lints else "")
    )
    sys.exit(1 if alerts.failed_tests or checked.crm_problems or (strict and alerts.lints) else 0)


@dataclass
class _Checked:
    """The rules ``rules check`` checks and what it checks them with."""

    rules: RuleSet
    mapping: Mapping
    #: The CRM's fields (a CRM sync of --config), for the picklist lints.
    schema: dict[str, SchemaField] | None = None
    #: The rules compiled already (by the plan of --config or --source): tested on, not compiled again.
    engine: Engine | None = None
    #: What ``sync`` would refuse about the CRM's tag fields, closed by the way out (--config only).
    crm_problems: list[str] = field(default_factory=list)


def _checked_rules(
    rules_dir: str,
    mapping: str | None,
    source: str | None,
    config: str | None,
    sync_name: str | None,
    engine: str | None,
) -> _Checked:
    """The rules with the same known fields as audit would use; with --config, checked against
    the CRM's tag fields as ``sync`` checks them before writing."""
    from crmseg.audit.plan import default_mapping, dimension_names, plan_config, plan_source, write_problems
    from crmseg.config import load_mapping
    from crmseg.normalize.normalizer import Normalizer
    from crmseg.rules.loader import load_rules

    if config is not None:
        plan = plan_config(config, sync_name, engine)
        try:
            described = plan.connector.capabilities.object_schema is not None  # a CRM object, not a file
            schema = plan.connector.schema() if described else None
            problems = write_problems(plan, config, sync_name) if described else []
        except BaseException:
            plan.close()
            raise
        plan.connector.close()
        return _Checked(plan.rules, plan.mapping, schema, plan.compiled, problems)
    if source is not None:
        plan = plan_source(source, rules_dir, mapping, engine or "auto")
        plan.connector.close()
        return _Checked(plan.rules, plan.mapping, None, plan.compiled)
    m = load_mapping(mapping or default_mapping(rules_dir))
    types = Normalizer(m, reserved=dimension_names(rules_dir)).field_types()
    return _Checked(load_rules(rules_dir, types), m)


@rules.command("explain")
@click.option("--rules", "rules_dir", default="rules", show_default=True, type=click.Path(file_okay=False))
@click.option("--account", "account_json", help="The account as a JSON object of canonical fields.")
@click.option("--source", type=click.Path(dir_okay=False, exists=True), help="CSV/JSONL file to take the account from.")
@click.option("--id", "record_id", help="The account's id in --source.")
@click.option("--mapping", type=click.Path(dir_okay=False))
@ENGINE
@as_of_option
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def rules_explain(
    rules_dir: str,
    account_json: str | None,
    source: str | None,
    record_id: str | None,
    mapping: str | None,
    engine: str | None,
    as_of: datetime | None,
    as_json: bool,
) -> None:
    """Each dimension's value, the rule that fired and why earlier rules did not."""
    import json
    from dataclasses import asdict

    from crmseg.audit.plan import default_mapping, find_record, plan_source, prepare_rules
    from crmseg.config import load_mapping
    from crmseg.model import RawRecord
    from crmseg.rules.engines import make_engine
    from crmseg.rules.explain import explain, render_text, unknown_fields, with_current

    if (account_json is None) == (source is None):
        raise click.UsageError("give either --account JSON or --source FILE --id ID")
    if source is not None and record_id is None:
        raise click.UsageError("--source needs --id ID")
    now = as_of or datetime.now(UTC)
    if account_json is not None:
        try:
            data = json.loads(account_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--account") from None
        if not isinstance(data, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--account")
        m = load_mapping(mapping or default_mapping(rules_dir))
        normalizer, ruleset = prepare_rules(rules_dir, m, data.keys(), True, now)
        raw = RawRecord(str(data.get("id", "(account)")), data)
    else:
        plan = plan_source(source, rules_dir, mapping, engine or "auto", now)  # type: ignore[arg-type]  # source is set: one of --account/--source
        normalizer, ruleset = plan.normalizer, plan.rules
        raw = find_record(plan, str(record_id))
    account = normalizer.account(raw)
    eng = make_engine(engine or "auto", ruleset, now)
    try:
        results = eng.evaluate(account)
    finally:
        eng.close()
    expl = with_current(explain(ruleset, account, results, now), normalizer.current_tags(raw, ruleset.names))
    if account_json is not None:
        for line in unknown_fields(data, normalizer.mapping, ruleset):
            err(f"warning: {line}")
    if as_json:
        click.echo(
            json.dumps(
                {"id": raw.id, "engine": eng.name, "dimensions": [asdict(d) for d in expl]}, default=str, indent=2
            )
        )
    else:
        click.echo(render_text(expl, raw.id))
