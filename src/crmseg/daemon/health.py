"""What the daemon's health says, as pure functions: a rejected edit's problems (file, line,
reason), the ``/healthz`` body, and the "next run" other processes may show.

Nothing here does I/O but read a rule file to find the line a problem points at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from crmseg.dates import parse_iso
from crmseg.state.store import ScheduleEntry

_WHERE = re.compile(r"^(?P<file>[^:\n]+?\.(?:toml|csv|jsonl|json))(?::(?P<line>\d+))?: (?P<reason>.+)$", re.S)
_AT_LINE = re.compile(r"\bat line (\d+)")
_ITEM = re.compile(r'^(?P<kind>rule|test) "(?P<name>[^"]+)"(?: \((?P<key>\w+)\b)?')


@dataclass(frozen=True)
class Problem:
    """One reason an edit was rejected: the file and line it points at (None when unknown)."""

    file: str | None
    line: int | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file
        return f"{where}: {self.reason}" if where else self.reason


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def parse_problem(text: str, read: Callable[[Path], str | None] = _read_text) -> Problem:
    """A check message (``FILE: rule "NAME" (when, col 3): reason``, ``FILE: invalid TOML: ...
    (at line 2, column 7)``, ``FILE: test "NAME": ...``) as file, line and reason. The line of a
    rule or test problem is found in the file (``read``): its ``key`` line, else its ``name``."""
    m = _WHERE.match(text.strip())
    if m is None:
        return Problem(None, None, text.strip())
    file, reason = m["file"], m["reason"].strip()
    line = int(m["line"]) if m["line"] else None
    if line is None and (at := _AT_LINE.search(reason)):
        line = int(at.group(1))
    if line is None and (item := _ITEM.match(reason)):
        content = read(Path(file))
        if content is not None:
            line = _item_line(content, item["kind"], item["name"], item["key"])
    return Problem(file, line, reason)


def _item_line(content: str, kind: str, name: str, key: str | None) -> int | None:
    """The 1-based line of ``key`` in the ``[[kind]]`` table named ``name`` (or of its ``name``)."""
    block: str | None = None
    found: int | None = None
    name_line = re.compile(rf"^\s*name\s*=\s*[\"']{re.escape(name)}[\"']\s*(#.*)?$")
    key_line = re.compile(rf"^\s*{re.escape(key)}\s*=") if key else None
    for number, line in enumerate(content.splitlines(), 1):
        header = re.match(r"^\s*\[\[\s*(\w+)\s*\]\]", line) or re.match(r"^\s*\[[\w.\"' -]+\]\s*(?:#.*)?$", line)
        if header is not None:
            if found is not None:
                return found  # the item's table ended without its key
            block = header.group(1) if header.lastindex else None
            continue
        if block != kind:
            continue
        if found is None and name_line.match(line):
            found = number
        elif found is not None and key_line is not None and key_line.match(line):
            return number
    return found


def problems_of(lines: Iterable[str], read: Callable[[Path], str | None] = _read_text) -> list[Problem]:
    """Every check message of a rejected edit, parsed (:func:`parse_problem`)."""
    return [parse_problem(text, read) for text in lines if text.strip()]


@dataclass(frozen=True)
class RejectedEdit:
    """An edit of a sync's rule or mapping files that failed check: the daemon keeps its last
    good rules (``kept_fingerprint``; None when none ever passed, so the sync cannot run)."""

    sync: str
    fingerprint: str
    at: str
    rules_dir: str
    problems: tuple[Problem, ...]
    kept_fingerprint: str | None = None
    kept_since: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "at": self.at,
            "rules_dir": self.rules_dir,
            "problems": [p.as_dict() for p in self.problems],
            "kept_fingerprint": self.kept_fingerprint,
            "kept_since": self.kept_since,
        }

    def summary(self) -> str:
        """One line for humans: the first problem and how many more."""
        first = str(self.problems[0]) if self.problems else "does not pass check"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        kept = f"running the rules loaded at {self.kept_since}" if self.kept_fingerprint else "not running"
        return f"sync {self.sync}: rule edit rejected, {kept}: {first}{more}"


@dataclass
class Health:
    """The inputs of ``/healthz``: syncs that are late and edits that are rejected."""

    late: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: dict[str, RejectedEdit] = field(default_factory=dict)
    live: dict[str, dict[str, str]] = field(default_factory=dict)  # sync -> {"fingerprint", "since"}

    def body(self) -> tuple[bool, dict[str, Any]]:
        """(ok, body): ok unless a sync is late or an edit is rejected; ``status`` says
        ``ok`` or ``degraded`` and ``reasons`` lists why, one line each."""
        reasons = [
            f"sync {name}: no successful run for {info['seconds_since']:.0f}s (limit {info['limit_s']:.0f}s)"
            for name, info in sorted(self.late.items())
        ]
        reasons += [edit.summary() for _, edit in sorted(self.rejected.items())]
        ok = not reasons
        return ok, {
            "ok": ok,
            "status": "ok" if ok else "degraded",
            "reasons": reasons,
            "late": self.late,
            "rejected": {name: edit.as_dict() for name, edit in sorted(self.rejected.items())},
            "rules": dict(sorted(self.live.items())),
        }


@dataclass(frozen=True)
class NextRun:
    """What ``status`` says about a sync's next run: when (None unless a daemon holds the
    schedule), why not, and the daemon holding it."""

    at: str | None
    reason: str | None
    daemon: dict[str, Any] | None = None


def next_run(scheduled: bool, entries: Sequence[ScheduleEntry], now: str) -> NextRun:
    """The next run of one sync from the daemons' schedule rows and the store's clock ``now``.

    Only rows whose expiry is after ``now`` count (a daemon renews them; a row past its
    expiry is a daemon that stopped or died); the earliest next fire time among them wins."""
    fresh = [e for e in entries if parse_iso(e.expires_at) > parse_iso(now)]
    if not fresh:
        why = "no daemon running" if scheduled else "no interval or cron in the config"
        if scheduled and entries:
            why = "no daemon running (the last one stopped renewing its schedule)"
        return NextRun(None, why)
    timed = [e for e in fresh if e.next_run]
    if not timed:
        return NextRun(None, "the running daemon has it paused", _daemon(fresh[0]))
    first = min(timed, key=lambda e: parse_iso(e.next_run or ""))
    at = parse_iso(first.next_run or "")
    return NextRun(_seconds(at), None, _daemon(first))


def _seconds(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _daemon(entry: ScheduleEntry) -> dict[str, Any]:
    return {"holder": entry.holder, "host": entry.host, "pid": entry.pid, "until": entry.expires_at}


def live_rules(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{"fingerprint", "since"}`` of a rule status row, or None before any version passed."""
    if not status or not status.get("fingerprint"):
        return None
    return {"fingerprint": status["fingerprint"], "since": status.get("since")}
