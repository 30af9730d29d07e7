"""The ``crmseg`` command line: parse arguments, call the pipeline, print. Nothing else."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from crmseg import __version__
from crmseg.asof import as_of_option
from crmseg.commands import ROOT, RULES, LazyGroup
from crmseg.errors import ConfigError, CrmsegError, RuleError

# Start-up time matters (``crmseg --help`` should answer at once): import only click and
# crmseg's light modules here. rich, pydantic (crmseg.config), the CRM clients and the rest
# are imported inside the commands that use them, and the commands of crmseg.commands on
# first use (tests/test_startup.py checks that importing this module loads none of them).

ENGINE = click.option(
    "--engine",
    type=click.Choice(["auto", "durable", "native"]),
    default=None,
    help="Rules engine (default: the sync's setting, else auto = native; same results either way).",
)


def file_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--delimiter``, ``--encoding`` and ``--skip-bad-rows`` for commands reading a data file."""
    f = click.option(
        "--skip-bad-rows",
        is_flag=True,
        help="Leave out bad input rows (counted and named in the report) instead of stopping.",
    )(f)
    f = click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of the data file.")(f)
    f = click.option(
        "--delimiter",
        help="CSV delimiter: a character or comma/semicolon/tab/pipe (default: detected from the header).",
    )(f)
    return f


def _file_kwargs(delimiter: str | None, encoding: str, skip_bad_rows: bool) -> dict[str, Any]:
    return {"delimiter": delimiter, "encoding": encoding, "on_bad_row": "skip" if skip_bad_rows else "raise"}


def _err(message: str) -> None:
    click.echo(message, err=True)


class CrmsegGroup(LazyGroup):
    """The root group: in standalone mode (the console script, ``CliRunner().invoke``) its ``main``
    turns errors into crmseg's exit codes and one-line messages, the same way for both.

    ``CrmsegError`` -> ``error: …`` (a RuleError: its problems) and its ``exit_code``; a click
    usage error -> click's message, exit 2; Abort/Ctrl-C -> ``aborted``, 130; a broken pipe -> 0;
    another OSError (a path or port the user named) -> ``error: …``, 2 (4: a network error).
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; with ``standalone_mode=False`` errors propagate, as click's do."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            # click itself non-standalone: its standalone mode would print "Aborted!" and exit 1, etc.
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.Abort:
            _err("aborted")
            sys.exit(130)
        except click.ClickException as exc:
            exc.show()
            sys.exit(2)
        except CrmsegError as exc:
            _err(f"error: {exc}" if not isinstance(exc, RuleError) else str(exc))
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            sys.exit(0)
        except OSError as exc:  # a path or port the user named; CRM network errors are mapped by the connectors
            _err(f"error: {f'{exc.filename}: ' if exc.filename else ''}{exc.strerror or exc}")
            sys.exit(4 if _is_network_error(exc) else 2)
        # commands return None; an int is the code of a ctx.exit(...) (--help, --version: 0)
        sys.exit(code if isinstance(code, int) else 0)


def _is_network_error(exc: OSError) -> bool:
    """A connection error or a ``requests`` one (an OSError too), without importing requests for it."""
    requests = sys.modules.get("requests")  # not imported: the error cannot be one of its
    return isinstance(exc, ConnectionError) or (requests is not None and isinstance(exc, requests.RequestException))


@click.group("crmseg", cls=CrmsegGroup, lazy_subcommands=ROOT, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__)  # the constant: no importlib.metadata on every start
def cli() -> None:
    """Segment, tier and journey-stage tags for CRM accounts, from rule files."""


# ---------------------------------------------------------------- rules
@cli.group(cls=LazyGroup, lazy_subcommands=RULES)
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
        ruleset, m, schema = _checked_rules(rules_dir, mapping, source, config, sync_name, engine)
    except RuleError as exc:
        for line in exc.problems:
            _err(line)
        if source is None and config is None and any("unknown field" in p for p in exc.problems):
            _err(
                "hint: `audit --source FILE` also knows the file's undeclared columns (as text); "
                "pass the same --source FILE to check them the same way"
            )
        _err(f"{len(exc.problems)} problem(s) in {rules_dir}")
        sys.exit(1)
    alerts = rule_alerts(ruleset, m, engine or "auto", now, schema)
    for w in alerts.lints:
        _err(f"warning: {w}")
    for line in alerts.failed_tests:
        _err(line)
    n_rules = sum(len(d.rules) for d in ruleset.dimensions)
    passed = alerts.tests_run - len(alerts.failed_tests)
    click.echo(
        f"{rules_dir}: {len(ruleset.dimensions)} dimensions ({', '.join(ruleset.names)}), {n_rules} rules, "
        f"{passed}/{alerts.tests_run} tests passed, {len(alerts.lints)} warning(s)"
        + (" (--strict: warnings fail)" if strict and alerts.lints else "")
    )
    sys.exit(1 if alerts.failed_tests or (strict and alerts.lints) else 0)


def _checked_rules(
    rules_dir: str,
    mapping: str | None,
    source: str | None,
    config: str | None,
    sync_name: str | None,
    engine: str | None,
) -> tuple[Any, Any, Any]:
    """(rule set, mapping, CRM schema or None), with the same known fields as audit would use."""
    from crmseg.config import load_mapping
    from crmseg.normalize import Normalizer
    from crmseg.pipeline import default_mapping, dimension_names, plan_config, plan_source
    from crmseg.rules.loader import load_rules

    if config is not None:
        plan = plan_config(config, sync_name, engine)
        try:
            described = plan.connector.capabilities.object_schema is not None  # a CRM object, not a file
            schema = plan.connector.schema() if described else None
        finally:
            plan.connector.close()
        return plan.rules, plan.mapping, schema
    if source is not None:
        plan = plan_source(source, rules_dir, mapping, engine or "auto")
        plan.connector.close()
        return plan.rules, plan.mapping, None
    m = load_mapping(mapping or default_mapping(rules_dir))
    types = Normalizer(m, reserved=dimension_names(rules_dir)).field_types()
    return load_rules(rules_dir, types), m, None


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

    from crmseg.config import load_mapping
    from crmseg.model import RawRecord
    from crmseg.pipeline import default_mapping, find_record, plan_source, prepare_rules
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
            _err(f"warning: {line}")
    if as_json:
        click.echo(
            json.dumps(
                {"id": raw.id, "engine": eng.name, "dimensions": [asdict(d) for d in expl]}, default=str, indent=2
            )
        )
    else:
        click.echo(render_text(expl, raw.id))


# ---------------------------------------------------------------- audit
@cli.command()
@click.option("--config", type=click.Path(dir_okay=False, exists=True), help="config.toml naming the sync to audit.")
@click.option("--sync", "sync_name", help="Which sync of the config (needed when it has several).")
@click.option(
    "--source", type=click.Path(dir_okay=False, exists=True), help="CSV/JSONL file of accounts (canonical columns)."
)
@click.option("--rules", "rules_dir", type=click.Path(file_okay=False), help="Rules folder (with --source).")
@click.option("--mapping", type=click.Path(dir_okay=False), help="Mapping for --source (default connectors/csv.toml).")
@ENGINE
@as_of_option
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the summary as JSON.")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), help="Write one row per account.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@click.option("--quiet", "-q", is_flag=True, help="No terminal report.")
@file_options
def audit(
    config: str | None,
    sync_name: str | None,
    source: str | None,
    rules_dir: str | None,
    mapping: str | None,
    engine: str | None,
    as_of: datetime | None,
    json_out: str | None,
    csv_out: str | None,
    html_out: str | None,
    quiet: bool,
    delimiter: str | None,
    encoding: str,
    skip_bad_rows: bool,
) -> None:
    """Dry run: what the rules would do to the accounts. Never writes to a CRM or to sync state."""
    from contextlib import ExitStack

    from rich.console import Console

    from crmseg.heap import frozen_heap
    from crmseg.pipeline import plan_config, plan_source, run_audit
    from crmseg.report import CsvWriter, render, write_html, write_json
    from crmseg.report.files import check_writable

    if (config is None) == (source is None):
        raise click.UsageError("give either --config FILE or --source FILE --rules DIR")
    check_writable(("--json", json_out), ("--csv", csv_out), ("--html", html_out))
    if source is not None:
        plan = plan_source(
            source,
            rules_dir or "rules",
            mapping,
            engine or "auto",
            as_of,
            **_file_kwargs(delimiter, encoding, skip_bad_rows),
        )
    else:
        plan = plan_config(config, sync_name, engine, as_of)  # type: ignore[arg-type]  # config is set: one of --config/--source
        rows = plan.connector.capabilities.skipped_rows
        if skip_bad_rows and rows is not None:
            rows.on_bad_row = "skip"
    console = Console(stderr=False)
    with ExitStack() as stack:
        sink = None
        if csv_out:
            writer = stack.enter_context(CsvWriter(csv_out, plan.rules.dimensions))
            sink = writer.row
        tick = None if quiet else stack.enter_context(_progress()) if sys.stderr.isatty() else _log_lines()
        stack.callback(plan.close)
        stack.enter_context(frozen_heap())  # the objects alive now are not garbage: the collector skips them
        summary = run_audit(plan, sink, tick)
    if as_of is not None:  # the run's clock is the as-of date; keep the real start beside it
        summary.metadata["as_of"] = as_of.isoformat(timespec="seconds")
        summary.metadata["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    if json_out:
        write_json(summary, json_out)
    if html_out:
        write_html(summary, html_out)
    if not quiet:
        render(summary, console)
        for label, path in (("JSON", json_out), ("CSV", csv_out), ("HTML report", html_out)):
            if path:
                console.print(f"{label} written to {path}")
    if summary.failed_tests:  # never silent, even with --quiet
        for line in summary.failed_tests:
            _err(f"failed test: {line}")
        _err(f"{len(summary.failed_tests)} inline rule test(s) fail: the tags above are not what the rules' tests say")
        sys.exit(1)


def _log_lines(every: int = 50_000) -> Callable[[int], None]:
    """Off a terminal: one plain progress line on stderr per ``every`` accounts."""
    import time

    start = time.perf_counter()

    def tick(n: int) -> None:
        if n % every == 0:
            rate = n / max(time.perf_counter() - start, 1e-9)
            _err(f"audit: {n:,} accounts evaluated ({rate:,.0f}/s)")

    return tick


class _progress:
    """A live account counter on stderr for TTYs."""

    def __enter__(self) -> Callable[[int], None]:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.p = Progress(
            SpinnerColumn(),
            TextColumn("auditing: {task.completed:,} accounts"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.p.start()
        task = self.p.add_task("audit", total=None)
        return lambda n: self.p.update(task, completed=n)

    def __exit__(self, *exc: Any) -> None:
        self.p.stop()


# ---------------------------------------------------------------- schema
@cli.command()
@click.option("--config", type=click.Path(dir_okay=False, exists=True), required=True)
@click.option("--sync", "sync_name", help="Which sync of the config (needed when it has several).")
@click.option(
    "--provision", is_flag=True, help="HubSpot: create missing tag properties (options from the rules' values)."
)
def schema(config: str, sync_name: str | None, provision: bool) -> None:
    """Check a CRM sync's mapping against the CRM's schema.

    Fields exist, types fit, tag fields are updateable and offer every label.
    Exit 0 when it fits, 1 with the problems."""
    from crmseg.pipeline import schema_problems

    problems, created = schema_problems(config, sync_name, provision)
    for name in created:
        click.echo(f"created or updated property {name}")
    for line in problems:
        _err(line)
    if problems:
        sys.exit(1)
    click.echo("mapping fits the CRM schema")


# ---------------------------------------------------------------- sandbox
@cli.command()
@click.option("--crm", type=click.Choice(["salesforce", "hubspot"]), required=True)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 picks a free port.")
@click.option(
    "--seed", "seed_file", type=click.Path(dir_okay=False, exists=True), help="CSV of canonical accounts to load."
)
@click.option("--accounts", "accounts_n", type=click.IntRange(min=0), help="Generate N synthetic accounts instead.")
@click.option(
    "--rules", "rules_dir", type=click.Path(file_okay=False), help="Rules whose values become picklist options."
)
@click.option("--mapping", type=click.Path(dir_okay=False), help="Mapping (default connectors/<crm>.toml).")
@click.option(
    "--write-config", type=click.Path(dir_okay=False), help="Write a ready config.toml pointing at the sandbox."
)
@click.option("--db", "db_path", default=":memory:", show_default=True, help="SQLite file for the sandbox's store.")
def sandbox(
    crm: str,
    port: int,
    seed_file: str | None,
    accounts_n: int | None,
    rules_dir: str | None,
    mapping: str | None,
    write_config: str | None,
    db_path: str,
) -> None:
    """A local Salesforce or HubSpot on 127.0.0.1, no credentials needed.

    It speaks the API subset crmseg uses, with the vendors' page and batch sizes."""
    from crmseg.sandbox.cli import run_sandbox

    if (seed_file is None) == (accounts_n is None):
        raise click.UsageError("give either --seed FILE or --accounts N")
    sys.exit(
        run_sandbox(
            crm,
            port=port,
            seed_file=seed_file,
            accounts_n=accounts_n,
            write_config=write_config,
            rules_dir=rules_dir,
            mapping=mapping,
            db_path=db_path,
        )
    )


def main() -> None:
    """Console entry point; :class:`CrmsegGroup` maps errors to messages and exit codes."""
    cli.main()


if __name__ == "__main__":
    main()
