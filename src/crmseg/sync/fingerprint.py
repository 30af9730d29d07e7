"""Fingerprints that tell a sync when its rules or its reads changed (sha256, short hex)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from crmseg.rules.files import RuleFiles
from crmseg.rules.ir import functions_of
from crmseg.rules.model import RuleSet


def rules_fingerprint(rules: str | Path | RuleFiles, mapping_path: str | Path | None) -> str:
    """Hash of every rule file (name and bytes), the mapping file and the vocabulary it names:
    any edit changes it. ``rules``: the rules folder, or its files as already read (not read again)."""
    h = hashlib.sha256()
    for path, data in RuleFiles.of(rules).files:
        h.update(path.name.encode() + b"\0" + data + b"\0")
    for path, role in _roles(None, mapping_path):
        h.update(role.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def rules_files(rules_dir: str | Path, mapping_path: str | Path | None) -> list[Path]:
    """The files :func:`rules_fingerprint` hashes."""
    return [path for path, _ in _roles(rules_dir, mapping_path)]


def _roles(rules_dir: str | Path | None, mapping_path: str | Path | None) -> list[tuple[Path, str]]:
    """(file, "rule" | "mapping" | "vocabulary") in hashing order (no rule files without ``rules_dir``)."""
    files = [(path, "rule") for path in sorted(Path(rules_dir).glob("*.toml"))] if rules_dir is not None else []
    if mapping_path:
        files.append((Path(mapping_path), "mapping"))
        vocab = _vocabulary_of(Path(mapping_path))
        if vocab is not None and vocab.is_file():
            files.append((vocab, "vocabulary"))
    return files


def newest_change(rules_dir: str | Path, mapping_path: str | Path | None) -> float:
    """The latest modification time (epoch seconds) among those files; 0.0 when none is readable."""
    times = []
    for path in rules_files(rules_dir, mapping_path):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            continue
    return max(times, default=0.0)


def _vocabulary_of(mapping_path: Path) -> Path | None:
    """The vocabulary file a mapping names (read leniently: the loader reports errors)."""
    import tomllib

    from crmseg.config.vocabulary import vocabulary_path

    try:
        name = tomllib.loads(mapping_path.read_text(encoding="utf-8")).get("vocabulary")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    return vocabulary_path(mapping_path, name) if isinstance(name, str) else None


def read_fingerprint(fields: Iterable[str]) -> str:
    """Hash of the CRM fields a sync reads: when it changes, the local copy lacks fields and a full read follows."""
    return hashlib.sha256("\0".join(sorted(set(fields))).encode()).hexdigest()[:16]


def time_dependent(rules: RuleSet) -> bool:
    """True when an enabled rule calls ``days_since`` anywhere in its condition: its result moves with
    the calendar, not with the data. Read from the checked IR, so spacing and nesting do not matter."""
    return any("days_since" in functions_of(rule.pred) for dim in rules.dimensions for rule in dim.rules)
