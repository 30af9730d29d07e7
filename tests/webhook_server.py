"""A webhook receiver for the alert tests: a real HTTP server on 127.0.0.1 (http.server) in a
thread, keeping what each POST carried and answering with the statuses a test queues."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: WebhookServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        srv = self.server
        with srv.lock:
            srv.received.append((self.path, self.headers.get("Content-Type", ""), json.loads(body)))
            status = srv.statuses.pop(0) if srv.statuses else 200
        answer = b"ok" if status < 300 else b"no_service"
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the test reads `received`
        pass


class WebhookServer(ThreadingHTTPServer):
    """``url(path)`` to post to; ``received``: (path, content type, JSON body) per POST."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.received: list[tuple[str, str, Any]] = []
        self.statuses: list[int] = []  # answered in turn, then 200
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def bodies(self) -> list[Any]:
        with self.lock:
            return [body for _, _, body in self.received]

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)
