"""Checks a data file must pass before its rows are trusted (used by ``FileConnector``).

- ``IdSeen``: duplicate record ids in compact memory (an 8-byte fingerprint and a 4-byte
  line number per row, no string kept): 16-48 bytes per row, not ~150 for a set of ids.
- ``detect_delimiter``: comma, semicolon, tab or pipe, from the header line.
- ``first_bad_byte``: the byte offset of the first undecodable byte of a file.
- ``too_deep``: whether a JSON text nests deeper than a limit (checked before parsing).
- ``pairs_without_duplicates``: a ``json`` object hook refusing duplicate keys.
"""

from __future__ import annotations

import codecs
from array import array
from pathlib import Path
from typing import Any

__all__ = ["IdSeen", "detect_delimiter", "first_bad_byte", "too_deep", "pairs_without_duplicates",
           "DuplicateKey", "DELIMITERS"]

DELIMITERS: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


class IdSeen:
    """A set of record ids (as 64-bit fingerprints) remembering the line each was first seen on."""

    def __init__(self) -> None:
        self._keys = array("q", [0]) * 1024
        self._lines = array("i", [0]) * 1024
        self._n = 0

    def add(self, rid: str, line: int) -> int | None:
        """Record ``rid`` at ``line``; return the earlier line when it was seen before."""
        key = hash(rid) or 1
        keys, mask = self._keys, len(self._keys) - 1
        i = key & mask
        while True:
            k = keys[i]
            if k == 0:
                break
            if k == key:
                return self._lines[i]
            i = (i + 1) & mask
        keys[i] = key
        self._lines[i] = line
        self._n += 1
        if self._n * 4 > len(keys) * 3:
            self._grow()
        return None

    def _grow(self) -> None:
        old_keys, old_lines = self._keys, self._lines
        size = len(old_keys) * 2
        self._keys = array("q", [0]) * size
        self._lines = array("i", [0]) * size
        mask = size - 1
        for k, ln in zip(old_keys, old_lines):
            if not k:
                continue
            i = k & mask
            while self._keys[i]:
                i = (i + 1) & mask
            self._keys[i] = k
            self._lines[i] = ln


def detect_delimiter(header_line: str) -> str | None:
    """The delimiter a header line uses: the only candidate present, or the clearly most
    frequent one; ``","`` for a one-column header; None when ambiguous."""
    counts = {d: _unquoted_count(header_line, d) for d in DELIMITERS}
    present = sorted((c, d) for d, c in counts.items() if c)
    if not present:
        return ","
    if len(present) == 1 or present[-1][0] > 2 * present[-2][0]:
        return present[-1][1]
    return None


def _unquoted_count(line: str, ch: str) -> int:
    n, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == ch and not quoted:
            n += 1
    return n


def first_bad_byte(path: Path, encoding: str) -> tuple[int, int]:
    """(byte offset, line) of the first byte ``encoding`` cannot decode; (-1, -1) if none."""
    decoder = codecs.getincrementaldecoder(encoding)()
    pos, line = 0, 1
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                offset = pos - pending + exc.start
                with path.open("rb") as again:
                    return offset, line + again.read(offset).count(b"\n")
            pos += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            offset = pos - len(exc.object) + exc.start
            with path.open("rb") as again:
                return offset, 1 + again.read(offset).count(b"\n")
    return -1, -1


def too_deep(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests arrays/objects deeper than ``limit`` (strings skipped)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_str, escaped = 0, False, False
    for c in text:
        if in_str:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
            if depth > limit:
                return True
        elif c in "]}":
            depth -= 1
    return False


class DuplicateKey(ValueError):
    """A JSON object names the same key twice."""


def pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: a dict, or DuplicateKey."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise DuplicateKey(f"duplicate key {k!r}")
        out[k] = v
    return out
