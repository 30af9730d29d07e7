"""The shared vocabulary (``connectors/vocabulary.toml``): canonical values and synonyms that
every mapping uses, merged into each mapping's fields when the mapping is loaded.

A vocabulary file holds one table per canonical field: ``CANONICAL = [variants...]``. A
mapping names it with ``vocabulary = "vocabulary.toml"`` (relative to the mapping file) and
may extend it with its own ``[fields.NAME.synonyms]``; a mapping variant that sends a
spelling to a different canonical value than the vocabulary is a ConfigError.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from crmseg.errors import ConfigError

__all__ = ["load_vocabulary", "merge_vocabulary", "vocabulary_path"]


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def vocabulary_path(mapping_path: str | Path, name: str) -> Path:
    """The vocabulary file a mapping names: beside the mapping, else (a copied shipped mapping)
    in ``connectors/`` of the working folder, of the crmseg source checkout, or of the package."""
    p = Path(name)
    if p.is_absolute():
        return p
    beside = Path(mapping_path).parent / p
    if beside.is_file():
        return beside
    import crmseg
    from crmseg.defaults import packaged_dir

    for candidate in (
        Path("connectors") / p,
        Path(crmseg.__file__).resolve().parents[2] / "connectors" / p,
        packaged_dir("connectors") / p,
    ):
        if candidate.is_file():
            return candidate
    return beside  # not found: the error names the place beside the mapping


def load_vocabulary(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """field -> {canonical: [variants]}; ConfigError naming the file for a malformed table."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{p}: vocabulary file not found (also looked in connectors/ of the working folder "
            "and of the crmseg checkout); copy connectors/vocabulary.toml beside the mapping"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    out: dict[str, dict[str, list[str]]] = {}
    for fname, table in data.items():
        if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v) for k, v in table.items()
        ):
            raise ConfigError(f'{p}: [{fname}] must hold CANONICAL = ["variant", ...] lines')
        out[fname] = {k: list(v) for k, v in table.items()}
        _check_unique(out[fname], f"{p}: [{fname}]")
    return out


def _check_unique(table: dict[str, list[str]], where: str) -> None:
    """A spelling (folded) may lead to one canonical value only."""
    seen: dict[str, str] = {}
    for canonical, variants in table.items():
        for spelling in (canonical, *variants):
            key = _fold(spelling)
            if seen.setdefault(key, canonical) != canonical:
                raise ConfigError(
                    f"{where}: {spelling!r} is a synonym of both {seen[key]!r} and {canonical!r}; "
                    "keep it under one canonical value"
                )


def merge_vocabulary(data: dict[str, Any], vocab: dict[str, dict[str, list[str]]], where: str) -> None:
    """Put the vocabulary's synonyms under each field of the raw mapping ``data`` (in place).

    The vocabulary comes first; the mapping's own synonyms extend it."""
    fields = data.get("fields")
    if not isinstance(fields, dict):
        return
    for fname, table in vocab.items():
        fm = fields.get(fname)
        if not isinstance(fm, dict):
            continue
        own = fm.get("synonyms") or {}
        if not isinstance(own, dict):
            continue  # the model validation reports it
        merged = {k: list(v) for k, v in table.items()}
        for canonical, variants in own.items():
            merged.setdefault(canonical, [])
            merged[canonical] += [
                v for v in (variants if isinstance(variants, list) else []) if v not in merged[canonical]
            ]
        _check_unique(merged, f"{where}: fields.{fname}.synonyms (with the vocabulary)")
        fm["synonyms"] = merged
