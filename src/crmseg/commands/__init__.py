"""Command groups beyond the core ``cli.py`` ones; each module adds its commands to ``cli``.

Imported at the end of :mod:`crmseg.cli`, after the ``cli`` group exists.
"""

from __future__ import annotations

import importlib

MODULES = ("sync", "status", "drift", "daemon", "state", "rules_diff", "init")


def register() -> None:
    """Import every command module (each decorates :data:`crmseg.cli.cli`); missing ones are skipped."""
    for name in MODULES:
        try:
            importlib.import_module(f"crmseg.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"crmseg.commands.{name}":
                raise
