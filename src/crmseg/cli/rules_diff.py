"""``crmseg rules diff``: what a rule edit does to the accounts, before it ships."""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from crmseg.cli.options import ENGINE, as_of_option, err
from crmseg.errors import RuleError


class Percent(click.ParamType):
    """``5%``, ``5`` or ``0.5%``: a share of accounts, in percent."""

    name = "N%"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            pct = float(str(value).strip().removesuffix("%"))
        except ValueError:
            self.fail(f"{value!r} is not a percentage like 5%", param, ctx)
        if not 0 <= pct <= 100:
            self.fail(f"{value!r} must be between 0% and 100%", param, ctx)
        return pct


def _write(path: str, text: str) -> None:
    if path == "-":
        click.echo(text, nl=False)
    else:
        from crmseg.report.files import atomic_write

        atomic_write(Path(path), text)


@click.command("diff")
@click.option("--base", required=True, help="The rules to compare with: a git revision (main, HEAD~1) or a folder.")
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False),
    help="The new rules (default: rules, or the sync's rules with --config).",
)
@click.option("--source", type=click.Path(dir_okay=False, exists=True), help="CSV/JSONL file of accounts.")
@click.option("--mapping", type=click.Path(dir_okay=False), help="Mapping for --source (default connectors/csv.toml).")
@click.option("--config", type=click.Path(dir_okay=False, exists=True), help="config.toml: read the sync's accounts.")
@click.option("--sync", "sync_name", help="Which sync of the config (needed when it has several).")
@ENGINE
@as_of_option
@click.option("--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True), help="Write the diff as JSON.")
@click.option(
    "--html", "html_out", type=click.Path(dir_okay=False, allow_dash=True), help="Write a self-contained HTML page."
)
@click.option(
    "--markdown",
    "md_out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write Markdown for a pull request ('-': print it instead of the terminal report).",
)
@click.option("--fail-above", type=Percent(), help="Exit 1 when more than this share of accounts move (a CI gate).")
@click.option("--samples", default=3, show_default=True, type=click.IntRange(0, 100), help="Sample accounts per move.")
@click.option("--quiet", "-q", is_flag=True, help="No terminal report.")
def rules_diff(
    base: str,
    rules_dir: str | None,
    source: str | None,
    mapping: str | None,
    config: str | None,
    sync_name: str | None,
    engine: str | None,
    as_of: datetime | None,
    json_out: str | None,
    html_out: str | None,
    md_out: str | None,
    fail_above: float | None,
    samples: int,
    quiet: bool,
) -> None:
    """Evaluate the --base rules and the new rules on the same accounts (read once) and show what moves.

    Per dimension: counts before and after, the from → to matrix, rule hit changes and sample
    accounts per move. Exit 0, or 1 when --fail-above is exceeded; 2 bad usage, config or rules."""
    import json

    from crmseg.audit.plan import plan_config, plan_source, read_records
    from crmseg.report.rules_diff import diff_html, diff_markdown, render_diff
    from crmseg.rules.diff import diff_rules
    from crmseg.rules.loader import load_rules
    from crmseg.rules.revision import resolve_base

    if (config is None) == (source is None):
        raise click.UsageError("give either --source FILE or --config FILE")
    now = as_of or datetime.now(UTC)
    if source is not None:
        plan = plan_source(source, rules_dir or "rules", mapping, engine or "auto", now)
    else:
        plan = plan_config(config, sync_name, engine, now)  # type: ignore[arg-type]  # config is set: one of --config/--source
    try:
        new_dir = rules_dir or plan.rules_dir
        new = (
            plan.rules
            if Path(new_dir).resolve() == Path(plan.rules_dir).resolve()
            else load_rules(new_dir, plan.rules.field_types)
        )
        with tempfile.TemporaryDirectory(prefix="crmseg-diff-") as scratch:
            base_dir, label = resolve_base(base, new_dir, Path(scratch))
            try:
                base_rules = load_rules(base_dir, plan.rules.field_types)
            except RuleError as exc:  # name the revision, not the scratch folder
                raise RuleError(
                    [f"--base {label}: " + p.replace(str(base_dir), str(new_dir)) for p in exc.problems]
                ) from None
        accounts = ((raw.id, plan.normalizer.account(raw)) for raw in read_records(plan))
        diff = diff_rules(
            base_rules, new, accounts, plan.engine, now, labels=(label, str(new_dir), plan.source), samples=samples
        )
    finally:
        plan.connector.close()
    if json_out:
        _write(json_out, json.dumps(diff.to_json(), indent=2, ensure_ascii=False) + "\n")
    if html_out:
        _write(html_out, diff_html(diff))
    if md_out:
        _write(md_out, diff_markdown(diff))
    if not quiet and md_out != "-" and json_out != "-" and html_out != "-":
        render_diff(diff, Console(soft_wrap=False))
    if fail_above is not None and diff.moved_share * 100 > fail_above:
        err(
            f"rules diff: {diff.moved:,} of {diff.accounts:,} accounts move ({diff.moved_share:.1%}), "
            f"more than --fail-above {fail_above:g}%"
        )
        sys.exit(1)
