"""``crmseg review``: the quarterly segment review over a sync's state or over files."""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime
from typing import Any

import click

from crmseg.cli.options import AsOf, err, file_kwargs, file_options

ATTRIBUTE = ("created", "closed", "current")


@click.command()
@click.option("--config", type=click.Path(dir_okay=False, exists=True), help="config.toml naming the sync to review.")
@click.option("--sync", "sync_name", help="Which sync of the config (needed when it has several).")
@click.option(
    "--refresh",
    is_flag=True,
    help="With --config: run the sync first (as `crmseg sync`: accounts, then deals; it writes changed tags) "
    "so the review sees today's deals.",
)
@click.option("--source", type=click.Path(dir_okay=False, exists=True), help="CSV/JSONL file of accounts.")
@click.option(
    "--deals", "deals_path", type=click.Path(dir_okay=False, exists=True), help="CSV/JSONL deals file (with --source)."
)
@click.option("--rules", "rules_dir", type=click.Path(file_okay=False), help="Rules folder (with --source).")
@click.option("--mapping", type=click.Path(dir_okay=False), help="Mapping for --source (default connectors/csv.toml).")
@click.option(
    "--review-config",
    type=click.Path(dir_okay=False, exists=True),
    help="A TOML file with a [review] table (with --source; a config's own [review] is used with --config).",
)
@click.option("--period", metavar="QUARTER", help="The (fiscal) quarter to review, e.g. 2026Q3.")
@click.option("--since", type=AsOf(), help="First day of the period (instead of --period).")
@click.option("--until", type=AsOf(), help="Last day of the period (default: yesterday).")
@click.option("--compare", metavar="QUARTER|none", help="Compare with this quarter (default: the period before).")
@click.option("--by", "by", metavar="DIM[,DIM]", help="Only these dimensions, in this order.")
@click.option(
    "--attribute",
    type=click.Choice(ATTRIBUTE),
    help="Count each deal for its account's label when the deal was created (default), when it closed, or now.",
)
@click.option(
    "--as-of",
    "as_of",
    type=AsOf(),
    help="Today, for the default period and a current evaluation (YYYY-MM-DD or a datetime; default now).",
)
@click.option(
    "--home-currency", metavar="CODE", help="Deal amounts are in this currency (files in several currencies)."
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the review as JSON.")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), help="Write one row per dimension and label.")
@click.option("--markdown", "md_out", type=click.Path(dir_okay=False), help="Write the findings as Markdown tables.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@click.option("--quiet", "-q", is_flag=True, help="No terminal report (alerts still go to stderr).")
@file_options
def review(
    config: str | None,
    sync_name: str | None,
    refresh: bool,
    source: str | None,
    deals_path: str | None,
    rules_dir: str | None,
    mapping: str | None,
    review_config: str | None,
    period: str | None,
    since: datetime | None,
    until: datetime | None,
    compare: str | None,
    by: str | None,
    attribute: str | None,
    as_of: datetime | None,
    home_currency: str | None,
    json_out: str | None,
    csv_out: str | None,
    md_out: str | None,
    html_out: str | None,
    quiet: bool,
    delimiter: str | None,
    encoding: str,
    skip_bad_rows: bool,
) -> None:
    """Quarterly segment review: win rate, deal size, cycle, velocity, churn, calibration, viability.

    Per dimension and label over the deals closed in the period, compared with the period
    before; reads a sync's state (--config) or files (--source --deals --rules) and never
    writes to a CRM or to sync state itself; --refresh runs the sync first, as `crmseg sync`
    does (its errors and exit codes are the sync's, and the review is not run). Exit 0; 1 when
    an alert fires (a decaying label, tiers out of order); 2 bad input (nothing computed)."""
    from datetime import UTC

    from pydantic import ValidationError
    from rich.console import Console

    from crmseg.config import load_config, load_review_config
    from crmseg.config.review import ReviewConfig
    from crmseg.errors import ConfigError
    from crmseg.heap import frozen_heap
    from crmseg.report.files import check_writable
    from crmseg.report.review_files import write_review_csv, write_review_json, write_review_markdown
    from crmseg.report.review_html import write_review_html
    from crmseg.report.review_terminal import render_review
    from crmseg.reviewing import ReviewRequest, choose_periods, file_inputs, review_document, state_inputs

    if (config is None) == (source is None):
        raise click.UsageError("give either --config FILE or --source FILE --deals FILE --rules DIR")
    if source is not None and deals_path is None:
        raise click.UsageError("--source needs --deals FILE (the deals to review)")
    if config is not None and (deals_path or rules_dir or mapping or review_config):
        raise click.UsageError("--deals, --rules, --mapping and --review-config go with --source, not --config")
    if refresh and config is None:
        raise click.UsageError("--refresh goes with --config (it runs the sync, then reviews its state)")
    check_writable(("--json", json_out), ("--csv", csv_out), ("--markdown", md_out), ("--html", html_out))
    cfg = load_config(config) if config is not None else None
    settings = cfg.review if cfg is not None else load_review_config(review_config) if review_config else ReviewConfig()
    if home_currency is not None:
        try:
            settings = ReviewConfig.model_validate({**settings.model_dump(), "home_currency": home_currency})
        except ValidationError as exc:
            raise click.BadParameter(
                str(exc.errors()[0]["msg"]).removeprefix("Value error, "), param_hint="'--home-currency'"
            ) from None
    today = (as_of or datetime.now(UTC)).date()
    try:
        current, before = choose_periods(
            today,
            period=period,
            since=since.date() if since else None,
            until=until.date() if until else None,
            compare=compare,
            fiscal_year_start_month=settings.fiscal_year_start_month,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    dims = tuple(d.strip() for d in by.split(",") if d.strip()) if by else None
    request = ReviewRequest(current, before, settings, dims, attribute, as_of)  # type: ignore[arg-type]  # click.Choice(ATTRIBUTE)
    if cfg is not None and refresh:
        _refresh(cfg, sync_name, quiet)
    # the objects alive now (imports, config) are not garbage, and reading the state makes
    # millions of short-lived rows and next to no cycles: no collection while the review runs
    with frozen_heap(paused=True):
        if cfg is not None:
            inputs = state_inputs(cfg, sync_name, request)
            where = f"sync '{cfg.sync(sync_name).name}' ({config})"
        else:
            assert source is not None and deals_path is not None  # (checked above)
            inputs = file_inputs(
                source,
                deals_path,
                rules_dir or "rules",
                mapping,
                request,
                **file_kwargs(delimiter, encoding, skip_bad_rows),
            )
            where = f"{source} + {deals_path}"
        if not inputs.dimensions:
            raise ConfigError("no dimension to review")
        result, doc = review_document(inputs, request, where)
    if json_out:
        write_review_json(doc, json_out)
    if csv_out:
        write_review_csv(doc, csv_out)
    if md_out:
        write_review_markdown(doc, md_out)
    if html_out:
        write_review_html(doc, html_out)
    if not quiet:
        # The review's tables are laid out for 100 columns: off a terminal (a file, a pipe, cron)
        # rich would assume 80 and fold the trend column; COLUMNS still wins when set.
        console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 100)
        render_review(doc, console)
        for label, path in (("JSON", json_out), ("CSV", csv_out), ("Markdown", md_out), ("HTML report", html_out)):
            if path:
                console.print(f"{label} written to {path}")
    if result.alerts:
        for a in result.alerts:
            err(f"alert: {a}")
        sys.exit(1)


def _refresh(cfg: Any, sync_name: str | None, quiet: bool) -> None:
    """``--refresh``: one ordinary run of the sync (:class:`~crmseg.sync.service.SyncService`, the
    entry ``crmseg sync`` and the daemon use: accounts then deals, under its lease, API budget and
    change guard, recorded). Its summary goes to stderr; a run that does not succeed exits with
    the sync's code (1 records failed or the run stopped, 2, 3 locked, 4 CRM unreachable,
    130/143 on a signal) and no review."""
    import signal

    from rich.console import Console

    from crmseg.cli.sync import _stop_on_signals, print_outcome
    from crmseg.errors import ConfigError
    from crmseg.heap import frozen_heap
    from crmseg.sync.service import SyncService

    sync_cfg = cfg.sync(sync_name)
    if not sync_cfg.deals:
        how = "deals = true" if sync_cfg.connector not in ("csv", "jsonl") else 'deals = "deals.csv"'
        raise ConfigError(f"--refresh: sync {sync_cfg.name!r} reads no deals; set {how} on it")
    service = SyncService(cfg)
    stop = threading.Event()
    signals: list[int] = []
    with service.plan(sync_cfg.name, stop=stop) as planned:
        for line in planned.alerts.lints if planned.alerts else ():
            err(f"warning: {line}")
        planned.refuse_failing_tests()
        with _stop_on_signals(stop, signals), frozen_heap():
            outcome = service.run(planned, stop=stop)
    if outcome.exit_code or not quiet:
        print_outcome(outcome, Console(stderr=True, soft_wrap=True))
    if signals and outcome.status == "aborted":
        sys.exit(130 if signals[0] == signal.SIGINT else 143)
    if outcome.exit_code:
        err(f"review not run: the refresh run of sync {sync_cfg.name!r} ended {outcome.status}")
        sys.exit(outcome.exit_code)
