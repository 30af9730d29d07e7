"""Checks a data file must pass before its rows are trusted (used by ``FileConnector``).

- ``IdSeen``: duplicate record ids in compact memory (a 16-byte slot per id: fingerprint and
  line number, no string kept): 21-43 bytes per row, not ~150 for a set of ids.
- ``estimate_lines``: about how many lines a file holds (to size ``IdSeen`` once).
- ``detect_delimiter``: comma, semicolon, tab or pipe, from the header line.
- ``first_bad_byte``: the byte offset of the first undecodable byte of a file.
- ``too_deep``: whether a JSON text nests deeper than a limit (checked before parsing).
- ``pairs_without_duplicates``: a ``json`` object hook refusing duplicate keys.
"""

from __future__ import annotations

import codecs
import os
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "DELIMITERS",
    "DuplicateKey",
    "IdSeen",
    "detect_delimiter",
    "estimate_lines",
    "first_bad_byte",
    "pairs_without_duplicates",
    "too_deep",
]

DELIMITERS: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


class IdSeen:
    """A set of record ids (as 64-bit fingerprints) remembering the line each was first seen on.

    One open-addressing table of 16-byte slots — fingerprint, then line — in one array, so a
    lookup touches one cache line."""

    def __init__(self, expected: int = 0) -> None:
        """``expected``: about how many ids will come (sizes the table once; it still grows past it)."""
        size = 1024
        while size * 3 < expected * 4:
            size *= 2
        self._alloc(size)
        self._n = 0

    def _alloc(self, size: int) -> None:
        self._tab = array("q", [0]) * (2 * size)  # slot s: [2s] fingerprint (0: free), [2s+1] line
        self._mask = 2 * size - 2  # (h << 1) & mask: an even index, the slot's fingerprint
        self._limit = size * 3 // 4  # grown past a load of 3/4

    def add(self, rid: str, line: int) -> int | None:
        """Record ``rid`` at ``line``; return the earlier line when it was seen before."""
        key = hash(rid) or 1
        tab, mask = self._tab, self._mask
        i = (key << 1) & mask
        while k := tab[i]:
            if k == key:
                return tab[i + 1]
            i = (i + 2) & mask
        tab[i] = key
        tab[i + 1] = line
        self._n += 1
        if self._n > self._limit:
            self._grow()
        return None

    def unique(
        self,
        rows: Iterable[tuple[int, list[str]]],
        column: Callable[[], int],
        bad: Callable[[str, int, int | None], None],
    ) -> Iterator[tuple[str, list[str]]]:
        """(id, row) of each (line, row) whose id — ``row[column()]`` stripped, ``column`` read at
        the first row — is not blank and new; ``bad(id, line, first line or None)`` for the
        others. ``add`` for a CSV read's hot loop: a new id landing on a free slot, the usual
        case, is stored inline; anything else goes through ``add``."""
        tab, mask, n, limit = self._tab, self._mask, self._n, self._limit
        at = -1
        try:
            for line, row in rows:
                if at < 0:
                    at = column()
                rid = row[at].strip()
                if not rid:
                    bad(rid, line, None)
                    continue
                key = hash(rid) or 1
                i = (key << 1) & mask
                if not tab[i]:
                    tab[i] = key
                    tab[i + 1] = line
                    n += 1
                    if n > limit:
                        self._n = n
                        self._grow()
                        tab, mask, limit = self._tab, self._mask, self._limit
                    yield rid, row
                    continue
                self._n = n
                first = self.add(rid, line)
                tab, mask, n, limit = self._tab, self._mask, self._n, self._limit
                if first is None:
                    yield rid, row
                else:
                    bad(rid, line, first)
        finally:
            self._n = n

    def _grow(self) -> None:
        old = self._tab
        self._alloc(len(old))  # twice the slots
        tab, mask = self._tab, self._mask
        for s in range(0, len(old), 2):
            k = old[s]
            if not k:
                continue
            i = (k << 1) & mask
            while tab[i]:
                i = (i + 2) & mask
            tab[i] = k
            tab[i + 1] = old[s + 1]


def estimate_lines(path: Path, sample: int = 1 << 16) -> int:
    """About how many lines ``path`` holds, from the line length in its first ``sample`` bytes;
    0 when it cannot be read (the read that follows says why)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(sample)
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return 0
    if len(head) < sample:
        return head.count(b"\n") + 1
    return int(size * (head.count(b"\n") + 1) / len(head) * 1.05) + 1


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
