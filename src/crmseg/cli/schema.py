"""``crmseg schema``: a CRM sync's mapping checked against the CRM's schema."""

from __future__ import annotations

import sys

import click

from crmseg.cli.options import err


@click.command()
@click.option("--config", type=click.Path(dir_okay=False, exists=True), required=True)
@click.option("--sync", "sync_name", help="Which sync of the config (needed when it has several).")
@click.option(
    "--provision",
    is_flag=True,
    help="HubSpot: create missing tag properties (options from the rules' values); "
    "Dynamics: print the Web API requests that create the missing columns.",
)
def schema(config: str, sync_name: str | None, provision: bool) -> None:
    """Check a CRM sync's mapping against the CRM's schema.

    Fields exist, types fit, tag fields are updateable and offer every label.
    Exit 0 when it fits, 1 with the problems."""
    from crmseg.audit.plan import schema_problems

    problems, created, steps = schema_problems(config, sync_name, provision)
    for name in created:
        click.echo(f"created or updated property {name}")
    for step in steps:
        click.echo(step)
    for line in problems:
        err(line)
    if problems:
        sys.exit(1)
    click.echo("mapping fits the CRM schema")
