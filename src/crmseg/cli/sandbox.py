"""``crmseg sandbox``: a local Salesforce, HubSpot, Dynamics 365 or Zoho CRM for trying crmseg without credentials."""

from __future__ import annotations

import sys
from typing import Any

import click


@click.command()
@click.option("--crm", type=click.Choice(["salesforce", "hubspot", "dynamics", "zoho"]), required=True)
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
@click.option("--org-id", help="Salesforce: the organization id it reports (15 characters, 00D...).")
@click.option("--portal-id", type=click.IntRange(min=1), help="HubSpot: the portal id it reports.")
@click.option(
    "--deals",
    "deals_n",
    type=click.IntRange(min=0),
    help="Also seed N deals over the last six quarters (planted effects).",
)
@click.option("--no-effects", is_flag=True, help="Seed the deals without planted effects (every segment alike).")
@click.option(
    "--multi-currency", is_flag=True, help="A multi-currency org/portal (deal amounts in several currencies)."
)
def sandbox(
    crm: str,
    port: int,
    seed_file: str | None,
    accounts_n: int | None,
    rules_dir: str | None,
    mapping: str | None,
    write_config: str | None,
    db_path: str,
    org_id: str | None,
    portal_id: int | None,
    deals_n: int | None,
    no_effects: bool,
    multi_currency: bool,
) -> None:
    """A local Salesforce, HubSpot, Dynamics 365 or Zoho CRM on 127.0.0.1, no credentials needed.

    It speaks the API subset crmseg uses, with the vendors' page and batch sizes."""
    from crmseg.sandbox.cli import run_sandbox

    if (seed_file is None) == (accounts_n is None):
        raise click.UsageError("give either --seed FILE or --accounts N")
    identity: dict[str, Any] = {k: v for k, v in (("org_id", org_id), ("portal_id", portal_id)) if v is not None}
    if multi_currency:
        identity["multi_currency"] = True
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
            deals_n=deals_n,
            deal_effects=not no_effects,
            **identity,
        )
    )
