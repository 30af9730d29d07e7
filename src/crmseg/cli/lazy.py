"""Command groups whose commands are imported only when one of them is run or asked for help.

``crmseg --help`` and ``--version`` must start fast, and the command modules pull in pydantic
(the config), rich, the CRM clients, APScheduler or psycopg. So a group's map (the root's
:data:`crmseg.cli.main.ROOT`, ``rules``' :data:`crmseg.cli.rules.RULES`) names each command's
``module:attribute`` and its short help (the first paragraph of its docstring, kept equal to it
by a test), and :class:`LazyGroup` lists them from there and imports a module only when its
command is looked up.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from gettext import gettext as _
from typing import Any, NamedTuple

import click

from crmseg.errors import CrmsegError


class Lazy(NamedTuple):
    """Where a command lives (``"module:attribute"``) and its help's first paragraph."""

    target: str
    help: str


class CommandLoadError(CrmsegError):
    """A command's module or attribute cannot be imported: the installation is broken or incomplete."""

    exit_code = 1


class LazyGroup(click.Group):
    """A click group whose ``lazy_subcommands`` are imported on first lookup (click's "LazyGroup" pattern).

    ``list_commands`` and the help's command list use the map alone; ``get_command`` imports.
    A command that cannot be imported raises :class:`CommandLoadError` instead of going missing.
    """

    def __init__(self, *args: Any, lazy_subcommands: Mapping[str, Lazy] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands: dict[str, Lazy] = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, sorted, the lazy ones included without importing them."""
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, importing its module first when it is a lazy one."""
        if cmd_name in self.commands or cmd_name not in self.lazy_subcommands:
            return super().get_command(ctx, cmd_name)
        cmd = load_command(cmd_name, self.lazy_subcommands[cmd_name].target)
        self.add_command(cmd, cmd_name)  # import once per process
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The help's "Commands" section, as ``click.Group`` writes it, without importing lazy commands."""
        names = self.list_commands(ctx)
        loaded = {n: c for n in names if n not in self.lazy_subcommands and (c := self.get_command(ctx, n))}
        shown = [n for n in names if n in self.lazy_subcommands or (n in loaded and not loaded[n].hidden)]
        if not shown:
            return
        limit = formatter.width - 6 - max(len(n) for n in shown)  # the same room click.Group gives
        rows = []
        for name in shown:
            # A stand-in with the listed help shortens it exactly as the real command would.
            cmd = loaded.get(name) or click.Command(name, help=self.lazy_subcommands[name].help)
            rows.append((name, cmd.get_short_help_str(limit)))
        with formatter.section(_("Commands")):  # click's own (translatable) title
            formatter.write_dl(rows)


def load_command(name: str, target: str) -> click.Command:
    """Import ``"module:attribute"`` and return the click command there; CommandLoadError if that fails."""
    module_name, attr = target.split(":")
    try:
        cmd = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise CommandLoadError(
            f"command '{name}' cannot be loaded from {target}: {type(exc).__name__}: {exc} "
            "(the crmseg installation is incomplete or broken; reinstall it)"
        ) from exc
    if not isinstance(cmd, click.Command):
        raise CommandLoadError(f"command '{name}': {target} is not a click command (a {type(cmd).__name__})")
    return cmd
