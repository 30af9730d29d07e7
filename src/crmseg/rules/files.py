"""The rule files of a rules folder, read once.

Loading a rule set needs the files three ways: their dimension names (the normalizer keeps
those names out of the account), their parsed contents (the loader) and their bytes (the
fingerprint that tells a sync its rules changed). :class:`RuleFiles` reads each file once and
hands the same bytes to all three, so they always describe one version of the folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

__all__ = ["RuleFiles"]


@dataclass(frozen=True, eq=False)
class RuleFiles:
    """Every ``*.toml`` of ``root`` (not recursive), in name order, as read at one moment."""

    root: Path
    #: False when ``root`` is not a directory (the loader reports it; the other readers are lenient).
    found: bool
    files: tuple[tuple[Path, bytes], ...]

    @classmethod
    def read(cls, rules_dir: str | Path) -> RuleFiles:
        """Read the folder's rule files (an unreadable file raises OSError)."""
        root = Path(rules_dir)
        paths = sorted(root.glob("*.toml"))
        return cls(root, root.is_dir(), tuple((path, path.read_bytes()) for path in paths))

    @classmethod
    def of(cls, rules: str | Path | RuleFiles) -> RuleFiles:
        """``rules`` itself when already read, else the folder read now."""
        return rules if isinstance(rules, RuleFiles) else cls.read(rules)

    @cached_property
    def documents(self) -> tuple[tuple[Path, dict[str, Any] | ValueError], ...]:
        """Each file's TOML table, or the error that stopped parsing it (parsed once)."""
        out: list[tuple[Path, dict[str, Any] | ValueError]] = []
        for path, data in self.files:
            try:
                out.append((path, tomllib.loads(data.decode())))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                out.append((path, exc))
        return tuple(out)

    def dimension_names(self) -> set[str]:
        """The ``dimension`` names the files declare, read leniently (the loader reports errors)."""
        names: set[str] = set()
        for _, doc in self.documents:
            name = doc.get("dimension") if isinstance(doc, dict) else None
            if isinstance(name, str):
                names.add(name)
        return names
