"""``crmseg init [DIR]``: a starter project — config.toml, rules/, connectors/ and sample accounts."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from crmseg.errors import ConfigError

STARTER_CONFIG = """\
# crmseg starter config (written by `crmseg init`). Try it:  crmseg audit --config config.toml
# Then point a sync at your CRM; credentials are read from the environment, never from here.

[syncs.sample]
connector = "csv"
path = "accounts.csv"
mapping = "connectors/csv.toml"
rules = "rules"

# [syncs.crm]
# connector = "hubspot"                 # or "salesforce" (instance_url = "https://....my.salesforce.com")
# mapping = "connectors/hubspot.toml"
# rules = "rules"
# access_token_env = "HUBSPOT_ACCESS_TOKEN"
# interval = "1h"
"""


def starter_files() -> dict[str, Path | str]:
    """Relative target path -> shipped source file (or text) of the starter project."""
    from crmseg.defaults import packaged_dir

    files: dict[str, Path | str] = {"config.toml": STARTER_CONFIG}
    for folder in ("rules", "connectors"):
        for src in sorted(packaged_dir(folder).glob("*.toml")):
            files[f"{folder}/{src.name}"] = src
    files["accounts.csv"] = packaged_dir("examples") / "accounts.csv"
    return files


def write_starter(directory: str | Path, force: bool = False) -> list[Path]:
    """Write the starter project into ``directory``; ConfigError if a file exists (unless ``force``)."""
    root = Path(directory)
    files = starter_files()
    existing = [rel for rel in files if (root / rel).exists()]
    if existing and not force:
        raise ConfigError(f"{root}: would overwrite {', '.join(existing)}; use --force or another folder")
    written = []
    for rel, src in files.items():
        target = root / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, Path):
                shutil.copyfile(src, target)
            else:
                target.write_text(src, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{target}: cannot write: {exc.strerror or exc}") from None
        written.append(target)
    return written


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(directory: str, force: bool) -> None:
    """Write a starter config.toml, rules/, connectors/ and sample accounts into DIRECTORY (default: here)."""
    written = write_starter(directory, force)
    click.echo(f"wrote {len(written)} files into {directory}: config.toml, rules/, connectors/, accounts.csv")
    click.echo(f"next: cd {directory} && crmseg rules check && crmseg audit --config config.toml")
