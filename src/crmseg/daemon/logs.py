"""Daemon logging: human-readable lines by default, JSON lines with ``--log-format json``.

Events carry structured fields (``log_event(log, "run", "...", sync=..., run_id=...)``): the
JSON format emits them as keys; the text format appends them as ``key=value``. Secrets never
reach a log: connectors redact every message they raise, and no event carries a credential.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, msg and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", "log"),
            "msg": record.getMessage(),
        }
        out.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """``2026-12-01T10:00:00Z INFO  message key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fields = getattr(record, "fields", {}) or {}
        extra = "".join(f" {k}={_short(v)}" for k, v in fields.items() if v not in (None, "", {}, []))
        line = f"{ts} {record.levelname:<7} {record.getMessage()}{extra}"
        if record.exc_info:
            line += f" ({self.formatException(record.exc_info).splitlines()[-1]})"
        return line


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    text = str(value)
    return f'"{text}"' if " " in text else text


def setup_logging(json_lines: bool, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route every crmseg logger (and APScheduler's warnings) to one handler on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("crmseg").setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def log_event(log: logging.Logger, level: int, event: str, msg: str, **fields: Any) -> None:
    """Log one structured event."""
    log.log(level, msg, extra={"event": event, "fields": fields})
