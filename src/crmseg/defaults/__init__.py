"""Files shipped inside the package, so ``pip install crmseg`` is enough outside a checkout.

- ``connectors/{csv,salesforce,hubspot}.toml``: the default mappings (used when none is
  given and no ``connectors/`` folder is found);
- ``rules/*.toml``: the starter rules ``crmseg init`` copies;
- ``examples/accounts.csv``: the sample accounts ``crmseg init`` copies.

They are copies of the repository's ``connectors/``, ``rules/`` and ``examples/``
(tests/test_init.py keeps them identical).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["packaged", "packaged_dir"]


def packaged(relative: str | Path) -> Path | None:
    """The shipped file at ``relative`` (e.g. ``connectors/csv.toml``), or None."""
    path = Path(str(resources.files(__name__).joinpath(str(relative))))
    return path if path.is_file() else None


def packaged_dir(relative: str) -> Path:
    """A shipped folder (``rules``, ``connectors``, ``examples``)."""
    return Path(str(resources.files(__name__).joinpath(relative)))
