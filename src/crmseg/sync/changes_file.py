"""A file sync's write target: an import-ready CSV of the tag changes, never the source file.

Columns: the mapping's id column, then every mapped tag column. Each row is one account
whose tags differ from the file's own tag columns, with the new values in the columns that
change and blank cells elsewhere (Salesforce Data Loader and HubSpot imports leave a blank
cell's field as it is). The file is written under a temporary name and renamed when the
run completes, so it is never half-written.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crmseg.model import TagWrite, WriteResult
from crmseg.report.files import safe_cell
from crmseg.tags import tag_text


class ChangesFile:
    """Collects tag writes as CSV rows; ``commit`` publishes the file."""

    batch_size = 1000
    calls = 0

    def __init__(self, path: str | Path, id_column: str, tag_columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = [id_column, *dict.fromkeys(tag_columns)]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._fh = self._tmp.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._fh)
        self._csv.writerow(self.columns)
        self.rows = 0

    def write(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        for w in writes:
            self._csv.writerow([safe_cell(w.id)] + [self._cell(w.fields, c) for c in self.columns[1:]])
        self.rows += len(writes)
        return [WriteResult(w.id, True) for w in writes]

    @staticmethod
    def _cell(fields: Any, column: str) -> str:
        if column not in fields:
            return ""
        return safe_cell(tag_text(fields[column]) or "")

    def commit(self) -> Path:
        self._fh.close()
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)
