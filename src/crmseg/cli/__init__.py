"""The ``crmseg`` command line: parse arguments, call the stages, print. Nothing else.

One module per command group (:mod:`crmseg.cli.audit`, :mod:`crmseg.cli.sync`, …), imported
when its command runs; :mod:`crmseg.cli.main` holds the root group and the error mapping,
:mod:`crmseg.cli.options` the options and output helpers the commands share. ``main`` is the
console script's entry point (``crmseg = "crmseg.cli:main"``).
"""

from crmseg.cli.main import cli, main

__all__ = ["cli", "main"]
