"""Audit reports as files: the JSON summary and the per-account CSV (streamed)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from crmseg.model import DimResult
from crmseg.report.views import as_data
from crmseg.tags import tag_text

if TYPE_CHECKING:
    from crmseg.audit.summary import AuditSummary, DimInfo

_NO_RESULT = DimResult(None)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_json(summary: AuditSummary | Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the summary's JSON document (UTF-8, indented); replaces the file atomically."""
    text = json.dumps(as_data(summary), indent=2, ensure_ascii=False, default=str) + "\n"
    atomic_write(Path(path), text)


def check_writable(*outputs: tuple[str, str | os.PathLike[str] | None]) -> None:
    """Fail before any work when an output path cannot be written: ConfigError naming the
    option and the reason. Each ``(option, path)`` pair with a path is tried with a probe file."""
    from crmseg.errors import ConfigError

    for option, out in outputs:
        if out is None:
            continue
        path = Path(out)
        probe = path.with_name(f".{path.name}.{os.getpid()}.probe")
        try:
            if path.is_dir():
                raise IsADirectoryError(21, "is a directory")
            path.parent.mkdir(parents=True, exist_ok=True)
            probe.open("w").close()
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"{option} {out}: cannot write there: {exc.strerror or exc}") from None


def atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file next to ``path`` (usual permissions), then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def safe_cell(text: str) -> str:
    """Neutralize spreadsheet formulas (``=``, ``+``, ``-``, ``@`` …) in a CSV cell.

    CRM values are typed by anyone with CRM access and the CSV is opened in
    spreadsheets, so a text cell that would start a formula gets a leading ``'``.
    Numbers (``-5``, ``+3.5``) are left as they are.
    """
    if text and text.startswith(_FORMULA_START):
        try:
            float(text)
            return text
        except ValueError:
            return "'" + text
    return text


class CsvWriter:
    """One CSV row per account: ``id``, then ``DIM``, ``DIM_rule``, ``DIM_current`` per dimension.

    Use as a context manager; rows are written as they come (no buffering of the run) to a
    temporary file beside ``path``, renamed to ``path`` when the block ends without an error;
    on an error or Ctrl-C the temporary file is removed, so no partial report is left.
    Values use ``tag_text`` (empty for no value); a score's ``DIM_rule`` lists every
    matching rule joined by ``;``.
    """

    def __init__(self, path: str | os.PathLike[str], dimensions: Sequence[DimInfo | str]) -> None:
        self.path = Path(path)
        self.dimensions: list[str] = [d if isinstance(d, str) else d.name for d in dimensions]
        self.rows = 0
        self._fh: IO[str] | None = None
        self._writer: Any = None
        self._tmp = self.path

    @property
    def header(self) -> list[str]:
        """The column names."""
        cols = ["id"]
        for d in self.dimensions:
            cols += [d, f"{d}_rule", f"{d}_current"]
        return cols

    def open(self) -> CsvWriter:
        """Create the file and write the header."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._fh = open(self._tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - open across row() calls until close()
        self._writer = csv.writer(self._fh)
        self._writer.writerow(self.header)
        return self

    def row(self, account_id: str, results: Mapping[str, DimResult], current: Mapping[str, Any]) -> None:
        """Write one account's line."""
        if self._writer is None:
            raise RuntimeError("CsvWriter is not open; use it as a context manager")
        cells = [safe_cell(str(account_id))]
        for d in self.dimensions:
            res = results.get(d, _NO_RESULT)
            cells.append(safe_cell(tag_text(res.value) or ""))
            cells.append(safe_cell(";".join(res.rules)))
            cells.append(safe_cell(tag_text(current.get(d)) or ""))
        self._writer.writerow(cells)
        self.rows += 1

    def close(self, complete: bool = True) -> None:
        """Flush and close the file: renamed into place when ``complete``, else removed."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self._writer = None
            if complete:
                os.replace(self._tmp, self.path)
            else:
                self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> CsvWriter:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(complete=exc_type is None)
