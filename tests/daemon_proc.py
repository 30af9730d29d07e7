"""A ``crmseg daemon`` subprocess with JSON-lines logs collected as events."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from .cli_run import crmseg_cmd

FIXTURE_TOKEN = object()


class DaemonProc:
    def __init__(
        self, config: Path, env: dict[str, str], cwd: Path, metrics: bool = True, *, _token: object = None
    ) -> None:
        if _token is not FIXTURE_TOKEN:  # the fixture marks its tests ``daemon`` (out of the fast set)
            raise AssertionError("start a daemon through the `daemon` fixture of tests/conftest.py")
        args = [*crmseg_cmd(), "daemon", "--config", str(config), "--log-format", "json"]
        if metrics:
            args += ["--metrics-port", "0"]
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._lock = threading.Lock()
        self._pumps = [
            threading.Thread(target=self._pump, args=(stream,), daemon=True)
            for stream in (self.proc.stderr, self.proc.stdout)
        ]
        for t in self._pumps:
            t.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            with self._lock:
                self.raw.append(line)
                with contextlib.suppress(ValueError):
                    self.events.append(json.loads(line))

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 60, count: int = 1) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                hits = [e for e in self.events if pred(e)]
            if len(hits) >= count:
                return hits
            if self.proc.poll() is not None:
                for t in self._pumps:  # the last lines it printed, for the message
                    t.join(timeout=5)
                raise AssertionError(f"daemon exited ({self.proc.returncode}):\n{''.join(self.raw[-30:])}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {count} event(s):\n{''.join(self.raw[-30:])}")

    def runs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("event") == "run"]

    @property
    def metrics_url(self) -> str:
        ev = self.wait_for(lambda e: e.get("event") == "metrics", timeout=30)[0]
        return f"http://{ev['host']}:{ev['port']}"

    def get(self, path: str) -> requests.Response:
        return requests.get(self.metrics_url + path, timeout=10)

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
