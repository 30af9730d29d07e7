"""The state store backends the shared store tests run on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crmseg.state.sqlite import SqliteStore


def backend_params() -> list[Any]:
    return ["sqlite"]


def open_backend(name: str, tmp_path: Path) -> Any:
    if name == "sqlite":
        return SqliteStore(tmp_path / "state.sqlite")
    raise ValueError(name)
