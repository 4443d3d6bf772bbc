"""A loopback HTTP server standing in for Marquez: records what is POSTed, can be told to fail."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CaptureServer:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.requests = 0
        self.fail_next = 0
        """Answer this many of the next requests with `fail_status`."""
        self.fail_status = 503
        self.delay_seconds = 0.0
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with capture.lock:
                    capture.requests += 1
                    failing = capture.fail_next > 0
                    if failing:
                        capture.fail_next -= 1
                if capture.delay_seconds:
                    threading.Event().wait(capture.delay_seconds)
                if failing:
                    self.send_response(capture.fail_status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with capture.lock:
                    capture.paths.append(self.path)
                    capture.events.append(json.loads(body))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="openlineage-capture", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def capture_server() -> Iterator[CaptureServer]:
    server = CaptureServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
