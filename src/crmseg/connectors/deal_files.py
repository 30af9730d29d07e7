"""A deals file (``--deals FILE``: CSV or JSON Lines) read as strictly as an account file.

The file itself is read by :class:`~crmseg.connectors.files.FileConnector`, so everything an
account file refuses is refused here with the same message (``file:line: problem``): a missing
file, the encoding, the header (a duplicate column, an undetectable delimiter), a row with
more or fewer fields than the header, an unbalanced quote, a NUL byte, malformed or too deeply
nested JSON, a duplicate key, a blank or duplicate id. With ``on_bad_row="skip"`` a bad row is
left out, logged and listed in ``skipped`` instead; problems with the file itself always raise.

Values convert as an account's fields do (``crmseg.deals.mapped``): an optional field's blank
or unconvertible value — an amount "n/a", a closed_at "soon" — is left out (None) and counted
in ``quality`` (missing / invalid per field), as the data-quality report counts account
fields. The fields no deal exists without — id, ``created_at`` and status — are required the
way an account's id is: a row whose value is blank or unreadable is a bad row naming the
file, the line and the column (the key, in JSON Lines).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from crmseg.config import DealsMapping, canonical_deals_mapping
from crmseg.connectors.base import BadRowPolicy
from crmseg.connectors.file_checks import IdSeen, estimate_lines
from crmseg.connectors.files import FileConnector, FileKind
from crmseg.deals import BadDeal, Deal, DealNormalizer
from crmseg.errors import ConfigError
from crmseg.model import RawRecord

__all__ = ["DealFile", "FileDeals"]


class DealFile:
    """The deals of one CSV or JSONL file, through a ``[deals]`` mapping (default: canonical
    column names, as the shipped ``csv.toml`` declares them)."""

    def __init__(
        self,
        path: str | Path,
        kind: FileKind | None = None,
        *,
        mapping: DealsMapping | None = None,
        delimiter: str | None = None,
        encoding: str = "utf-8-sig",
        on_bad_row: BadRowPolicy = "raise",
    ) -> None:
        self.mapping = mapping or canonical_deals_mapping()
        self._file = FileConnector(
            path,
            kind,
            id_field=self.mapping.source_of("id"),
            delimiter=delimiter,
            encoding=encoding,
            on_bad_row=on_bad_row,
        )
        self._normalizer = DealNormalizer(self.mapping)

    @property
    def path(self) -> Path:
        return self._file.path

    @property
    def kind(self) -> FileKind:
        return self._file.kind

    @property
    def skipped(self) -> list[str]:
        """Messages for the rows the last read left out (``on_bad_row="skip"``): file:line: problem."""
        return self._file.skipped

    @property
    def quality(self) -> dict[str, dict[str, int]]:
        """Per mapped field: values missing and invalid so far, over the deals read."""
        return self._normalizer.quality

    def read(self) -> Iterator[Deal]:
        """Every deal of the file, in file order."""
        f = self._file
        where = "column" if f.kind == "csv" else "key"
        deal = self._normalizer.deal
        for line, raw in self._rows():
            try:
                yield deal(raw)
            except BadDeal as exc:
                f.bad_row(line, f"{where} {exc.key!r}: {exc.problem}")

    def records(self) -> Iterator[RawRecord]:
        """Every row of the file as a raw record (the file's checks done, values not converted):
        what a sync reads through :class:`FileDeals` and converts with its own normalizer."""
        for _, raw in self._rows():
            yield raw

    def _rows(self) -> Iterator[tuple[int, RawRecord]]:
        """(line, raw record) of each row that passes the file's checks (header, id, duplicates)."""
        f = self._file
        id_field = self.mapping.source_of("id")
        if f.kind == "csv":
            self._check_header(f.columns())
        where = "column" if f.kind == "csv" else "key"
        seen = IdSeen(estimate_lines(f.path))
        for line, row in f.rows():
            rid = row.get(id_field)
            if isinstance(rid, (dict, list)):
                f.bad_row(line, f"the id {id_field!r} is a JSON {type(rid).__name__}, not a text or number")
                continue
            rid = (rid if isinstance(rid, str) else "" if rid is None or rid is False else str(rid)).strip()
            if not rid:
                f.bad_row(line, f"no value in the id {where} {id_field!r}")
                continue
            first = seen.add(rid, line)
            if first is not None:
                f.bad_row(line, f"duplicate id {rid!r} (first on line {first})")
                continue
            yield line, RawRecord(rid, row)

    def _check_header(self, names: Sequence[str]) -> None:
        """A CSV header must hold the columns no deal exists without (id, created_at, status)."""
        m = self.mapping
        need = {m.source_of("id"): "id", m.source_of("created_at"): "created_at"}
        need |= dict.fromkeys(m.status.sources(), "status")
        for column, field in need.items():
            if column not in names:
                close = difflib.get_close_matches(column, names, n=1)
                hint = f" — did you mean {close[0]!r}?" if close else f" (columns: {', '.join(names[:12])})"
                what = "" if column == field else f" (the deal's {field})"
                raise ConfigError(f"{self.path}:1: no column {column!r}{what} in the header{hint}")


class FileDeals:
    """A sync's deals file as the :class:`~crmseg.connectors.base.DealReads` capability of its file
    connector: every read is a full one (a file has no clock), one amount per deal."""

    multi_currency = False

    def __init__(self, deals: DealFile) -> None:
        self.file = deals

    @property
    def skipped(self) -> list[str]:
        """Rows the last read left out (``skip_bad_rows = true``), as ``file:line: problem``."""
        return self.file.skipped

    def read_deals(self, fields: Sequence[str] = (), since: datetime | None = None) -> Iterator[RawRecord]:
        """Every row of the file (``fields`` and ``since`` are accepted for the protocol)."""
        return self.file.records()
