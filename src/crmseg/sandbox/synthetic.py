"""Synthetic accounts for ``--accounts N``: the sample-data generator of the checkout.

``synthetic_accounts(n, seed)`` returns ``scripts/make_sample_accounts.generate(n, seed)``
as a list: canonical accounts as a CRM export holds them (text values; countries written
"USA", "U.S.", "United States"; "n/a" employees; current ``crmseg_*`` tags, some stale;
``crmseg_pin``), the very generator that wrote ``examples/accounts.csv``. The same ``n``
and ``seed`` always give the same accounts.

There is deliberately no second generator: ``scripts/make_sample_accounts.py`` is imported
by path from the working folder, the source checkout, or the copy shipped as package data
(``crmseg/defaults/scripts``, kept identical by tests/test_init.py).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from crmseg.errors import ConfigError
from crmseg.sandbox.defaults import checkout_file, checkout_root

GENERATOR = Path("scripts") / "make_sample_accounts.py"
_MODULE = "crmseg_sandbox_sample_accounts"


def generator_module() -> ModuleType:
    """``scripts/make_sample_accounts.py`` imported by path (once per process)."""
    mod = sys.modules.get(_MODULE)
    if mod is not None:
        return mod
    path = checkout_file(GENERATOR)
    if path is None:
        raise ConfigError(
            f"synthetic accounts need {GENERATOR} (the sample-data generator of the crmseg "
            f"checkout): neither {Path.cwd() / GENERATOR} nor {checkout_root() / GENERATOR} exists; "
            "seed the sandbox from a CSV instead (--seed FILE)"
        )
    spec = importlib.util.spec_from_file_location(_MODULE, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise ConfigError(f"{path}: cannot import the sample-data generator")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[_MODULE]
        raise
    return mod


def synthetic_accounts(n: int, seed: int = 42) -> list[dict[str, Any]]:
    """``n`` deterministic synthetic accounts (canonical columns; ids ``acc-…`` become CRM ids when seeded)."""
    if n < 0:
        raise ValueError(f"number of accounts must be >= 0 (got {n})")
    return list(generator_module().generate(n, seed))
