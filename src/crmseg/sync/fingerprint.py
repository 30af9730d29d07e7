"""Fingerprints that tell a sync when its rules or its reads changed (sha256, short hex)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

from crmseg.rules.model import RuleSet


def rules_fingerprint(rules_dir: str | Path, mapping_path: str | Path | None) -> str:
    """Hash of every rule file (name and bytes) and the mapping file: any edit changes it."""
    h = hashlib.sha256()
    for path in sorted(Path(rules_dir).glob("*.toml")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    if mapping_path:
        h.update(b"mapping\0" + Path(mapping_path).read_bytes())
    return h.hexdigest()[:16]


def read_fingerprint(fields: Iterable[str]) -> str:
    """Hash of the CRM fields a sync reads: when it changes, the local copy lacks fields and a full read follows."""
    return hashlib.sha256("\0".join(sorted(set(fields))).encode()).hexdigest()[:16]


def time_dependent(rules: RuleSet) -> bool:
    """True when a rule uses ``days_since``: its result moves with the calendar, not with the data."""
    return any("days_since(" in (rule.when or "") for dim in rules.dimensions for rule in dim.rules)
