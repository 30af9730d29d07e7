"""CSV and JSON Lines files as a read-only account source.

Rows stream one at a time (``csv.reader`` / line iteration), so memory does not
grow with the file. Each row is yielded whole (every column; a file has no per-column
cost), keyed by its column names, with the id taken from the mapping's ``id_field``.

File sources are **read-only**: ``write`` raises ``FatalError``. ``audit`` and
``sync --dry-run`` work on files; to try write-back without a CRM, use ``crmseg sandbox``.

Problems with the input raise ``ConfigError`` naming the file and the line: a missing
file, a header without the id column, a row without an id, a line that is not a JSON
object. With ``on_bad_row="skip"`` a bad *row* is logged, kept in ``skipped`` and the
rest of the file is read.
"""

from __future__ import annotations

import csv
import difflib
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Literal, Sequence

from crmseg.config import Mapping
from crmseg.errors import ConfigError, FatalError
from crmseg.model import RawRecord, SchemaField, TagWrite, WriteResult
from crmseg.normalize import parse_datetime

__all__ = ["FileConnector", "FileKind"]

log = logging.getLogger(__name__)

FileKind = Literal["csv", "jsonl"]
_SUFFIXES: dict[str, FileKind] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_FIELD_LIMIT = 64 * 1024 * 1024  # one CSV cell may hold up to 64 MiB (long text fields)


class FileConnector:
    """A CSV or JSONL file of accounts, read through the Connector protocol."""

    batch_size = 200

    def __init__(self, path: str | Path, kind: FileKind | None = None, *,
                 mapping: Mapping | None = None, id_field: str | None = None,
                 modified_field: str | None = None, delimiter: str = ",",
                 on_bad_row: Literal["raise", "skip"] = "raise") -> None:
        self.path = Path(path)
        self.kind: FileKind = kind or self._kind_from_suffix(self.path)
        if self.kind not in ("csv", "jsonl"):
            raise ConfigError(f"{self.path}: unknown file kind {self.kind!r} (allowed: 'csv', 'jsonl')")
        self.id_field = id_field or (mapping.id_field if mapping else "id")
        self.modified_field = modified_field or (mapping.modified_field if mapping else None)
        self.delimiter = delimiter
        self.on_bad_row = on_bad_row
        #: Messages for rows skipped with ``on_bad_row="skip"`` (file:line: problem).
        self.skipped: list[str] = []

    @staticmethod
    def _kind_from_suffix(path: Path) -> FileKind:
        kind = _SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise ConfigError(f"{path}: cannot tell the file kind from the suffix "
                              f"{path.suffix or '(none)'!r}; use .csv or .jsonl, or name the kind")
        return kind

    # ------------------------------------------------------------ protocol
    def read(self, fields: Sequence[str] = (), since: datetime | None = None) -> Iterator[RawRecord]:
        """Stream every row as a RawRecord; with ``since``, only rows modified after it.

        ``fields`` is accepted for the protocol; rows carry all their columns. A row whose
        modified value is blank or unreadable is kept (it cannot be shown unchanged)."""
        self.skipped = []
        rows = self._csv_rows() if self.kind == "csv" else self._jsonl_rows()
        cutoff = parse_datetime(since) if since is not None else None
        mod = self.modified_field
        if cutoff is not None and not mod:
            raise ConfigError(f"{self.path}: incremental read needs a modified_field in the mapping")
        id_field = self.id_field
        for line, row in rows:
            rid = row.get(id_field)
            rid = (rid if isinstance(rid, str) else "" if rid is None else str(rid)).strip()
            if not rid:
                self._bad_row(line, f"no value in the id column {id_field!r}")
                continue
            if cutoff is not None and not self._modified_after(row.get(mod), cutoff):  # type: ignore[arg-type]
                continue
            yield RawRecord(rid, row)

    def read_rows(self, on_header: Callable[[list[str]], None]) -> Iterator[tuple[str, list[Any]]]:
        """``read()`` of a CSV file as (id, row) with the row a list, ``on_header(names)`` called
        once before the first row: the same rows, ids, padding and bad-row handling, without
        a dict per row (a name repeated in the header: ``read()`` keeps its last column)."""
        if self.kind != "csv":
            raise ConfigError(f"{self.path}: read_rows reads CSV files only")
        self.skipped = []
        if csv.field_size_limit() < _FIELD_LIMIT:
            csv.field_size_limit(_FIELD_LIMIT)
        id_field = self.id_field
        with self._open() as fh:
            reader = csv.reader(fh, delimiter=self.delimiter)
            try:
                names = self._header(reader)
                at = max(i for i, n in enumerate(names) if n == id_field)  # a dict row keeps the last one
                on_header(names)
                width = len(names)
                for row in reader:
                    if len(row) != width:
                        if not row:  # blank line
                            continue
                        row = (row + [None] * width)[:width]  # short: None; long: extras dropped
                    rid = row[at]
                    if rid is None or not (rid := rid.strip()):
                        self._bad_row(reader.line_num, f"no value in the id column {id_field!r}")
                        continue
                    yield rid, row
            except csv.Error as exc:
                raise ConfigError(f"{self.path}:{reader.line_num}: malformed CSV: {exc}") from None
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{self.path}: near line {reader.line_num + 1}: not UTF-8 text "
                                  f"({exc.reason}); re-export the file as UTF-8") from None

    def columns(self) -> list[str]:
        """Column names: the CSV header, or the keys of the first JSONL object."""
        if self.kind == "csv":
            with self._open() as fh:
                header = next(csv.reader(fh, delimiter=self.delimiter), None)
            return [h.strip() for h in header] if header else []
        rows = self._jsonl_rows()
        try:
            return next((list(row) for _, row in rows), [])
        finally:
            rows.close()

    def schema(self) -> dict[str, SchemaField]:
        """Every column as a text field; files carry no types and are never written."""
        return {c: SchemaField(name=c, type="string", updateable=False) for c in self.columns()}

    def write(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        """File sources are read-only: always raises FatalError."""
        raise FatalError(f"{self.path}: file sources are read-only; use `crmseg audit` or "
                         "`crmseg sync --dry-run` on files, or `crmseg sandbox` to try write-back")

    def close(self) -> None:
        """Nothing to release: each read opens and closes the file itself."""

    def __enter__(self) -> "FileConnector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ readers
    def _open(self) -> IO[str]:
        try:
            return self.path.open("r", encoding="utf-8-sig", newline="")
        except FileNotFoundError:
            raise ConfigError(f"{self.path}: file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{self.path}: is a directory, not a file") from None
        except PermissionError:
            raise ConfigError(f"{self.path}: permission denied") from None

    def _header(self, reader: Any) -> list[str]:
        """The header's column names (stripped); ConfigError when empty or without the id column."""
        header = next(reader, None)
        if not header:
            raise ConfigError(f"{self.path}: empty file (a CSV needs a header row)")
        names = [h.strip() for h in header]
        if self.id_field not in names:
            raise ConfigError(f"{self.path}:1: no id column {self.id_field!r} in the header"
                              f"{_suggest(self.id_field, names)}")
        return names

    def _csv_rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        if csv.field_size_limit() < _FIELD_LIMIT:
            csv.field_size_limit(_FIELD_LIMIT)
        with self._open() as fh:
            reader = csv.reader(fh, delimiter=self.delimiter)
            try:
                names = self._header(reader)
                width = len(names)
                for row in reader:
                    if len(row) != width:
                        if not row:  # blank line
                            continue
                        row = (row + [None] * width)[:width]  # short: None; long: extras dropped
                    yield reader.line_num, dict(zip(names, row))
            except csv.Error as exc:
                raise ConfigError(f"{self.path}:{reader.line_num}: malformed CSV: {exc}") from None
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{self.path}: near line {reader.line_num + 1}: not UTF-8 text "
                                  f"({exc.reason}); re-export the file as UTF-8") from None

    def _jsonl_rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        with self._open() as fh:
            line_no = 0
            try:
                for line_no, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        self._bad_row(line_no, f"malformed JSON: {exc.msg} (col {exc.colno})")
                        continue
                    if not isinstance(row, dict):
                        self._bad_row(line_no, f"expected a JSON object, got {type(row).__name__}")
                        continue
                    yield line_no, row
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{self.path}: near line {line_no + 1}: not UTF-8 text "
                                  f"({exc.reason}); re-export the file as UTF-8") from None

    # ------------------------------------------------------------ helpers
    def _bad_row(self, line: int, problem: str) -> None:
        message = f"{self.path}:{line}: {problem}"
        if self.on_bad_row == "raise":
            raise ConfigError(message)
        log.warning("skipped row: %s", message)
        self.skipped.append(message)

    @staticmethod
    def _modified_after(value: Any, cutoff: datetime) -> bool:
        if value is None or (isinstance(value, str) and not value.strip()):
            return True
        try:
            return parse_datetime(value) > cutoff
        except (ValueError, TypeError, OverflowError, OSError):
            return True


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1) or [
        k for k in known if k.lower() == name.lower()]
    if close:
        return f" — did you mean {close[0]!r}?"
    return f" (columns: {', '.join(known[:12])}{', ...' if len(known) > 12 else ''})"
