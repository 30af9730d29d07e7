"""A pytest plugin for ``test_suite_policy``: writes, as JSON to ``$CRMSEG_POLICY_OUT``, the
markers of every test one collection selected and of every test it deselected."""

from __future__ import annotations

import json
import os
from typing import Any

_seen: dict[str, dict[str, list[str]]] = {"selected": {}, "deselected": {}}


def _marks(item: Any) -> list[str]:
    return sorted({m.name for m in item.iter_markers()})


def pytest_deselected(items: list[Any]) -> None:
    _seen["deselected"].update({item.nodeid: _marks(item) for item in items})


def pytest_collection_finish(session: Any) -> None:
    _seen["selected"].update({item.nodeid: _marks(item) for item in session.items})
    with open(os.environ["CRMSEG_POLICY_OUT"], "w", encoding="utf-8") as f:
        json.dump(_seen, f)
