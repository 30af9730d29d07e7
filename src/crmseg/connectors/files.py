"""CSV and JSON Lines files as a read-only account source.

Rows stream one at a time (``csv.reader`` / line iteration), so memory does not
grow with the file. Each row is yielded whole (every column; a file has no per-column
cost), keyed by its column names, with the id taken from the mapping's ``id_field``.

File sources are **read-only**: ``write`` raises ``FatalError``. ``audit`` and
``sync --dry-run`` work on files; to try write-back without a CRM, use ``crmseg sandbox``.

Problems with the input raise ``ConfigError`` naming the file and the line: a missing
file, a header without the id column or with a duplicate column, a row with more or
fewer fields than the header, an unbalanced quote, a NUL byte, a duplicate id (``1`` and
``"1"`` are the same id), a row without an id, a line that is not a JSON object or nests
deeper than ``MAX_JSON_DEPTH``, text that is not in ``encoding`` (with its byte offset).
The delimiter is detected from the header (comma, semicolon, tab, pipe) unless given.
With ``on_bad_row="skip"`` a bad *row* is logged, kept in ``skipped`` and the rest of
the file is read; problems with the file itself (header, encoding, an unclosed quote
at the end) always raise.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import json
import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from crmseg.config import Mapping
from crmseg.connectors.base import BadRowPolicy, Capabilities, Connector, CrmIdentity, DealReads
from crmseg.connectors.file_checks import (
    DELIMITERS,
    DuplicateKey,
    IdSeen,
    detect_delimiter,
    estimate_lines,
    first_bad_byte,
    pairs_without_duplicates,
    too_deep,
)
from crmseg.dates import parse_datetime
from crmseg.errors import ConfigError, FatalError
from crmseg.model import RawRecord, SchemaField, TagWrite, WriteResult

__all__ = ["FileConnector", "FileKind"]

log = logging.getLogger(__name__)

FileKind = Literal["csv", "jsonl"]
_SUFFIXES: dict[str, FileKind] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_FIELD_LIMIT = 64 * 1024 * 1024  # one CSV cell may hold up to 64 MiB (long text fields)
MAX_JSON_DEPTH = 32  # JSONL objects nesting deeper than this are bad rows (not a RecursionError)


@dataclass(frozen=True, slots=True)
class _FileModified:
    """A file's incremental-read claim: rows filter on ``modified_field``; a file has no clock."""

    modified_field: str
    server_time: datetime | None = None


class FileConnector(Connector):
    """A CSV or JSONL file of accounts, read through the Connector protocol.

    Claims: bad rows can be left out and listed (``skipped_rows``), its columns pass through
    as fields (``passthrough``), a CSV file reads as row lists (``row_lists``), and with a
    modified field, ``read(since=...)`` filters on it (``incremental``, without a clock); its
    identity is its resolved path (``identity``); with a deals file, its deals (``deals``)."""

    batch_size = 200

    def __init__(
        self,
        path: str | Path,
        kind: FileKind | None = None,
        *,
        mapping: Mapping | None = None,
        id_field: str | None = None,
        modified_field: str | None = None,
        delimiter: str | None = None,
        encoding: str = "utf-8-sig",
        on_bad_row: BadRowPolicy = "raise",
        deals: DealReads | None = None,
    ) -> None:
        self.path = Path(path)
        #: The sync's deals file, when it has one (``crmseg.connectors.deal_files.FileDeals``).
        self.deals = deals
        self.kind: FileKind = kind or self._kind_from_suffix(self.path)
        if self.kind not in ("csv", "jsonl"):
            raise ConfigError(f"{self.path}: unknown file kind {self.kind!r} (allowed: 'csv', 'jsonl')")
        self.id_field = id_field or (mapping.id_field if mapping else "id")
        self.modified_field = modified_field or (mapping.modified_field if mapping else None)
        if delimiter is not None and len(delimiter) != 1:
            named = {v: k for k, v in DELIMITERS.items()}
            if delimiter.lower() not in named and delimiter != "\\t":
                raise ConfigError(f"--delimiter {delimiter!r}: one character or one of {', '.join(named)}")
            delimiter = "\t" if delimiter == "\\t" else named[delimiter.lower()]
        #: None: detected from the header (comma, semicolon, tab or pipe).
        self.delimiter = delimiter
        self.encoding = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        self.on_bad_row: BadRowPolicy = on_bad_row
        self._names: list[str] = []  # the CSV header, once a read has parsed it
        #: Messages for rows skipped with ``on_bad_row="skip"`` (file:line: problem).
        self.skipped: list[str] = []

    @staticmethod
    def _kind_from_suffix(path: Path) -> FileKind:
        kind = _SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise ConfigError(
                f"{path}: cannot tell the file kind from the suffix "
                f"{path.suffix or '(none)'!r}; use .csv or .jsonl, or name the kind"
            )
        return kind

    # ------------------------------------------------------------ protocol
    @property
    def capabilities(self) -> Capabilities:
        mod = self.modified_field
        return Capabilities(
            incremental=_FileModified(mod) if mod else None,
            skipped_rows=self,
            passthrough=self,
            row_lists=self if self.kind == "csv" else None,
            identity=self,
            deals=self.deals,
        )

    def crm_identity(self) -> CrmIdentity:
        """The file's resolved path: a sync's state belongs to the file it was read from."""
        return CrmIdentity("file", str(self.path.resolve()))

    def read(self, fields: Sequence[str] = (), since: datetime | None = None) -> Iterator[RawRecord]:
        """Stream every row as a RawRecord; with ``since``, only rows modified after it.

        ``fields`` is accepted for the protocol; rows carry all their columns. A row whose
        modified value is blank or unreadable is kept (it cannot be shown unchanged)."""
        self.skipped = []
        rows = self._csv_rows() if self.kind == "csv" else self._jsonl_rows()
        cutoff = parse_datetime(since) if since is not None else None
        mod = self.modified_field or ""  # read only with a cutoff, which needs one (checked here)
        if cutoff is not None and not mod:
            raise ConfigError(f"{self.path}: incremental read needs a modified_field in the mapping")
        id_field = self.id_field
        seen = IdSeen(estimate_lines(self.path))
        for line, row in rows:
            rid = row.get(id_field)
            if isinstance(rid, (dict, list)):
                self._bad_row(line, f"the id {id_field!r} is a JSON {type(rid).__name__}, not a text or number")
                continue
            rid = (rid if isinstance(rid, str) else "" if rid is None or rid is False else str(rid)).strip()
            if not self._usable_id(rid, line, seen):
                continue
            if cutoff is not None and not self._modified_after(row.get(mod), cutoff):
                continue
            yield RawRecord(rid, row)

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line, row) of every well-formed row (header, field counts, quotes, NULs checked);
        ids are not required here (``read`` checks them)."""
        self.skipped = []
        return self._csv_rows(require_id=False) if self.kind == "csv" else self._jsonl_rows()

    def read_rows(self, on_header: Callable[[list[str]], None]) -> Iterator[tuple[str, list[Any]]]:
        """``read()`` of a CSV file as (id, row) with the row a list, ``on_header(names)`` called
        once before the first row: the same rows, ids and bad-row handling (widths, quotes, NULs,
        blank and duplicate ids), without a dict per row."""
        if self.kind != "csv":
            raise ConfigError(f"{self.path}: read_rows reads CSV files only")
        self.skipped = []
        at: list[int] = []

        def header(names: list[str]) -> None:
            at.append(names.index(self.id_field))
            on_header(names)

        rows = self._csv_lists(on_header=header)
        return IdSeen(estimate_lines(self.path)).unique(rows, lambda: at[0], self._bad_id)

    def _usable_id(self, rid: str, line: int, seen: IdSeen) -> bool:
        """True for a new, non-blank id; a blank or repeated one is a bad row (raised or skipped)."""
        first = seen.add(rid, line) if rid else None
        if rid and first is None:
            return True
        self._bad_id(rid, line, first)
        return False

    def _bad_id(self, rid: str, line: int, first: int | None) -> None:
        """Report a blank id, or ``rid`` repeating the one first seen on line ``first``."""
        if not rid:
            self._bad_row(line, f"no value in the id column {self.id_field!r}")
        else:
            self._bad_row(line, f"duplicate id {rid!r} (first on line {first})")

    def columns(self) -> list[str]:
        """Column names: the CSV header, or the keys of the first JSONL object."""
        if self.kind == "csv":
            with self._open() as fh:
                try:
                    return self._header(fh)
                except UnicodeDecodeError as exc:
                    raise self._not_text(exc) from None
                except csv.Error as exc:
                    raise ConfigError(f"{self.path}:1: malformed CSV header: {exc}") from None
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
        raise FatalError(
            f"{self.path}: file sources are read-only; use `crmseg audit` or "
            "`crmseg sync --dry-run` on files, or `crmseg sandbox` to try write-back"
        )

    def close(self) -> None:
        """Nothing to release: each read opens and closes the file itself."""

    def __enter__(self) -> FileConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ readers
    def _open(self) -> IO[str]:
        try:
            return self.path.open("r", encoding=self.encoding, newline="")
        except FileNotFoundError:
            raise ConfigError(f"{self.path}: file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{self.path}: is a directory, not a file") from None
        except PermissionError:
            raise ConfigError(f"{self.path}: permission denied") from None
        except LookupError:
            raise ConfigError(f"--encoding {self.encoding!r}: unknown encoding (e.g. utf-8, cp1252, latin-1)") from None

    def _not_text(self, exc: UnicodeDecodeError) -> ConfigError:
        offset, line = first_bad_byte(self.path, self.encoding)
        where = f"byte {offset} (line {line})" if offset >= 0 else "somewhere"
        return ConfigError(
            f"{self.path}:{max(line, 1)}: not {self.encoding.removesuffix('-sig')} text at {where}: "
            f"{exc.reason}; re-export the file as UTF-8 or name its encoding with "
            "--encoding (e.g. --encoding cp1252)"
        )

    def _header(self, fh: IO[str], require_id: bool = True) -> list[str]:
        """The header's column names; settles the delimiter when it was not given."""
        first = fh.readline()
        if not first.strip():
            raise ConfigError(f"{self.path}: empty file (a CSV needs a header row)")
        if self.delimiter is None:
            found = detect_delimiter(first)
            if found is None:
                raise ConfigError(
                    f"{self.path}:1: cannot tell the delimiter from the header (it has several of "
                    f"{', '.join(DELIMITERS.values())}); name it with --delimiter"
                )
            self.delimiter = found
        names = [h.strip() for h in next(csv.reader([first], delimiter=self.delimiter, strict=True))]
        seen: dict[str, int] = {}
        for i, name in enumerate(names, start=1):
            if name in seen:
                raise ConfigError(f"{self.path}:1: duplicate column {name!r} (columns {seen[name]} and {i})")
            seen[name] = i
        if require_id and self.id_field not in names:
            hint = ""
            others = [d for d in DELIMITERS if d != self.delimiter and d in first]
            if len(names) == 1 and others:
                hint = f"; the header looks {DELIMITERS[others[0]]}-separated: pass --delimiter"
            raise ConfigError(
                f"{self.path}:1: no id column {self.id_field!r} in the header{_suggest(self.id_field, names)}{hint}"
            )
        return names

    def _csv_rows(self, require_id: bool = True) -> Iterator[tuple[int, dict[str, Any]]]:
        for line, row in self._csv_lists(require_id):
            yield line, dict(zip(self._names, row, strict=True))  # _csv_lists yields only full-width rows

    def _csv_lists(
        self, require_id: bool = True, on_header: Callable[[list[str]], None] | None = None
    ) -> Iterator[tuple[int, list[str]]]:
        """(line, row) of every well-formed CSV row, the header in ``self._names`` from the first
        one; ``on_header(names)`` is called once the header is read."""
        if csv.field_size_limit() < _FIELD_LIMIT:
            csv.field_size_limit(_FIELD_LIMIT)
        nul_free = self._nul_free()
        with self._open() as fh:
            last = 0  # reader.line_num after the previous row: lines read past the header
            try:
                names = self._header(fh, require_id)
                self._names = names
                width = len(names)
                if on_header is not None:
                    on_header(list(names))
                reader = csv.reader(fh, delimiter=self.delimiter or ",", strict=True)
                for row in reader:
                    n = reader.line_num
                    if n == last + 1 and len(row) == width and (nul_free or "\x00" not in "\x1f".join(row)):
                        last = n
                        yield n + 1, row  # the usual row (one line, every field, no NUL), checked inline
                        continue
                    start, last = last + 2, n
                    if not row:  # blank line
                        continue
                    problem = _row_problem(row, width, self.delimiter or ",", n + 1 - start)
                    if problem:
                        self._bad_row(start, problem)
                        continue
                    yield start, row
            except csv.Error as exc:
                raise ConfigError(self._csv_problem(last + 2, str(exc))) from None
            except UnicodeDecodeError as exc:
                raise self._not_text(exc) from None

    def _nul_free(self) -> bool:
        """True when the file holds no NUL byte — one C-level scan, 1 MiB at a time — so rows
        need no check of their own. False for UTF-16/32 (NUL bytes in every character) or a
        file that cannot be read twice (a pipe): then each row is checked."""
        try:
            if codecs.lookup(self.encoding).name.startswith(("utf-16", "utf-32")):
                return False
            if not self.path.is_file():
                return False
            with self.path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    if b"\x00" in chunk:
                        return False
            return True
        except (LookupError, OSError):  # the read that follows reports what is wrong
            return False

    def _csv_problem(self, line: int, problem: str) -> str:
        if "end of data" in problem:
            return (
                f"{self.path}:{line}: unbalanced quote: the quoted field opened on or after line {line} "
                "never closes and swallows the rest of the file"
            )
        if "expected after" in problem:
            return (
                f"{self.path}:{line}: unbalanced or stray quote in the row starting here ({problem}); "
                "double a quote inside a quoted field"
            )
        return f"{self.path}:{line}: malformed CSV: {problem}"

    def _jsonl_rows(self) -> Generator[tuple[int, dict[str, Any]], None, None]:
        with self._open() as fh:
            line_no = 0
            try:
                for line_no, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    if "\x00" in line:
                        self._bad_row(line_no, "NUL byte in the line (is this a binary file?)")
                        continue
                    if too_deep(line, MAX_JSON_DEPTH):
                        self._bad_row(line_no, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
                        continue
                    try:
                        row = json.loads(line, object_pairs_hook=pairs_without_duplicates)
                    except json.JSONDecodeError as exc:
                        self._bad_row(line_no, f"malformed JSON: {exc.msg} (col {exc.colno})")
                        continue
                    except DuplicateKey as exc:
                        self._bad_row(line_no, f"{exc} in the JSON object")
                        continue
                    except RecursionError:
                        self._bad_row(line_no, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
                        continue
                    if not isinstance(row, dict):
                        self._bad_row(line_no, f"expected a JSON object, got {type(row).__name__}")
                        continue
                    yield line_no, row
            except UnicodeDecodeError as exc:
                raise self._not_text(exc) from None

    # ------------------------------------------------------------ helpers
    def bad_row(self, line: int, problem: str) -> None:
        """Report a bad row that a reader over ``rows()`` found (e.g. a deals file's invalid date):
        raised or skipped and listed like the file's own bad rows, by ``on_bad_row``."""
        self._bad_row(line, problem)

    def _bad_row(self, line: int, problem: str) -> None:
        message = f"{self.path}:{line}: {problem}"
        if self.on_bad_row == "raise":
            raise ConfigError(
                f"{message} (fix the row, or leave bad rows out and count them: --skip-bad-rows, "
                "or skip_bad_rows = true on a sync)"
            )
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


def _row_problem(row: list[str], width: int, delimiter: str, extra_lines: int) -> str | None:
    """Why a CSV row cannot be trusted, or None: wrong field count, NUL bytes, swallowed lines."""
    if len(row) != width:
        problem = f"{len(row)} fields, the header has {width}"
        if extra_lines:
            problem += f" (the row spans {extra_lines + 1} lines: an unbalanced quote?)"
        return problem
    if not extra_lines and "\x00" not in "\x1f".join(row):  # the usual row: one C-level scan
        return None
    for i, cell in enumerate(row, start=1):
        if "\x00" in cell:
            return f"NUL byte in field {i} (is this a binary file?)"
        if (
            extra_lines
            and "\n" in cell
            and any(ln.count(delimiter) >= max(width - 1, 1) for ln in cell.splitlines()[1:])
        ):
            return (
                f"field {i} spans {extra_lines + 1} lines that look like rows: "
                "an unbalanced quote swallows the following lines"
            )
    return None


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1) or [k for k in known if k.lower() == name.lower()]
    if close:
        return f" — did you mean {close[0]!r}?"
    return f" (columns: {', '.join(known[:12])}{', ...' if len(known) > 12 else ''})"
