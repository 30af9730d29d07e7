"""``crmseg audit``: the dry run of the rules over a sync's or a file's accounts."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from crmseg.cli.options import ENGINE, Progress, as_of_option, err, file_kwargs, file_options, log_lines


@click.command()
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

    from crmseg.audit.plan import plan_config, plan_source
    from crmseg.audit.run import run_audit
    from crmseg.heap import frozen_heap
    from crmseg.report.files import CsvWriter, check_writable, write_json
    from crmseg.report.html import write_html
    from crmseg.report.terminal import render

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
            **file_kwargs(delimiter, encoding, skip_bad_rows),
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
        tick = None if quiet else stack.enter_context(Progress()) if sys.stderr.isatty() else log_lines()
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
            err(f"failed test: {line}")
        err(f"{len(summary.failed_tests)} inline rule test(s) fail: the tags above are not what the rules' tests say")
        sys.exit(1)
