"""Start-up: ``crmseg --help``/``--version`` import no heavy module; lazy commands stay complete and loud.

Timings are not asserted (they depend on the machine); what makes start-up slow is importing
pydantic, rich, the CRM clients and the like, and that is checked deterministically here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import crmseg
from crmseg.cli import cli
from crmseg.cli.lazy import CommandLoadError, Lazy, LazyGroup, load_command
from crmseg.cli.main import ROOT
from crmseg.cli.rules import RULES, rules

ROOT_DIR = Path(__file__).resolve().parents[1]

#: Modules a bare start must not import (each costs milliseconds to tens of milliseconds).
HEAVY = [
    "pydantic",
    "rich",
    "simple_salesforce",
    "hubspot",
    "apscheduler",
    "psycopg",
    "requests",
    "prometheus_client",
    "re2",
    "pycountry",
    "tenacity",
    "durable_rules_engine",
    "importlib.metadata",
    "crmseg.config",
    "crmseg.audit.plan",
]

#: The command modules: each is imported only for its own command.
COMMAND_MODULES = sorted({target.split(":")[0] for target, _ in [*ROOT.values(), *RULES.values()]})

# Run in a fresh interpreter: report the heavy modules that importing crmseg.cli (and running
# it with ARGS, when given) added to sys.modules. Modules already there before (a .pth file
# may import importlib.metadata, say) are not crmseg's doing and are left out.
PROBE = """
import json, sys
before = set(sys.modules)
from crmseg.cli import cli
args = json.loads(sys.argv[1])
if args is not None:
    try:
        cli.main(args, prog_name="crmseg")
    except SystemExit:
        pass
heavy = json.loads(sys.argv[2])
print(json.dumps(sorted(m for m in heavy if m in sys.modules and m not in before)), file=sys.stderr)
"""


def _heavy_imports(args: list[str] | None, own: tuple[str, ...] = ()) -> list[str]:
    """The heavy modules, and the command modules other than ``own``, that running ``args`` imported."""
    heavy = [*HEAVY, *(m for m in COMMAND_MODULES if m not in own)]
    r = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(heavy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    loaded: list[str] = json.loads(r.stderr.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "args, own",
    [
        (None, ()),
        ([], ()),
        (["--help"], ()),
        (["-h"], ()),
        (["--version"], ()),
        # these command modules are light themselves: their help imports only them
        (["rules", "--help"], ("crmseg.cli.rules",)),
        (["audit", "--help"], ("crmseg.cli.audit",)),
    ],
)
def test_start_up_imports_no_heavy_module(args: list[str] | None, own: tuple[str, ...]) -> None:
    assert _heavy_imports(args, own) == []


def test_a_command_imports_its_module_when_run() -> None:
    """The probe is not blind: asking for a lazy command's help loads it and what it needs."""
    loaded = _heavy_imports(["status", "--help"])
    assert "crmseg.cli.status" in loaded and "crmseg.config" in loaded


def test_version_constant_is_the_package_version() -> None:
    """``--version`` prints ``crmseg.__version__``: it must follow pyproject.toml's version."""
    project = tomllib.loads((ROOT_DIR / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert crmseg.__version__ == project["version"]
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and r.output == f"crmseg, version {project['version']}\n"


@pytest.mark.parametrize("group, lazy", [(cli, ROOT), (rules, RULES)], ids=["crmseg", "crmseg rules"])
def test_every_lazy_command_loads_and_its_listed_help_is_its_own(group: LazyGroup, lazy: dict[str, Lazy]) -> None:
    assert group.lazy_subcommands == lazy
    for name, entry in lazy.items():
        cmd = load_command(name, entry.target)
        assert cmd.name == name, f"{entry.target} is named {cmd.name!r}, listed as {name!r}"
        assert cmd.short_help is None and cmd.help is not None
        first_paragraph = " ".join(cmd.help.split("\n\n")[0].split())
        assert entry.help == first_paragraph, f"crmseg.cli: the help listed for {name!r} is not its docstring's"
        # once run, a lazy command is cached in group.commands; anything else there is a clash
        assert group.commands.get(name, cmd) is cmd, f"{name!r} is both defined on the group and listed as lazy"


def _loaded_copy(group: click.Group) -> click.Group:
    """A plain click group holding ``group``'s commands with every lazy one imported."""
    assert isinstance(group, LazyGroup)
    loaded = {name: load_command(name, entry.target) for name, entry in group.lazy_subcommands.items()}
    return click.Group(
        group.name,
        commands={**group.commands, **loaded},
        params=group.params,
        help=group.help,
        context_settings=group.context_settings,
    )


@pytest.mark.parametrize("width", [50, 80, 120])
@pytest.mark.parametrize("path", [[], ["rules"]], ids=["crmseg", "crmseg rules"])
def test_help_is_the_same_as_with_every_command_loaded(path: list[str], width: int) -> None:
    plain = _loaded_copy(cli)
    if path:  # both under a root with crmseg's settings (-h), as users reach `crmseg rules`
        plain = click.Group(
            "crmseg", commands={"rules": _loaded_copy(rules)}, params=cli.params, context_settings=cli.context_settings
        )
    lazy_help = CliRunner().invoke(cli, [*path, "--help"], terminal_width=width)
    plain_help = CliRunner().invoke(plain, [*path, "--help"], terminal_width=width)
    assert lazy_help.exit_code == plain_help.exit_code == 0
    assert lazy_help.output == plain_help.output
    assert all(f"  {name} " in lazy_help.output for name in (RULES if path else ROOT))


def test_a_missing_command_module_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.lazy_subcommands, "gone", Lazy("crmseg.cli.gone:gone", "Went away."))
    monkeypatch.setitem(cli.lazy_subcommands, "typo", Lazy("crmseg.cli.init:inti", "A typo."))
    ctx = click.Context(cli)
    assert "gone" in cli.list_commands(ctx)  # listed, so never silently absent
    with pytest.raises(
        CommandLoadError,
        match=r"command 'gone' cannot be loaded from crmseg\.cli\.gone:gone: "
        r"ModuleNotFoundError: No module named 'crmseg\.cli\.gone'",
    ):
        cli.get_command(ctx, "gone")
    with pytest.raises(CommandLoadError, match=r"command 'typo' cannot be loaded .*AttributeError"):
        cli.get_command(ctx, "typo")
    assert "gone" not in cli.commands
