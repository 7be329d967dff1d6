"""Fixtures of the engine tests: a local HTTP server on 127.0.0.1 for `http_request`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        path = self.path.split("?")[0]
        if path == "/json":
            self._send(200, json.dumps({"ok": True, "path": self.path, "body": body}), "application/json")
        elif path == "/text":
            self._send(200, "plain words", "text/plain")
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), json.dumps({"status": "bad"}), "application/json")
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/flaky":
            self.server.flaky_calls += 1
            if self.server.flaky_calls <= self.server.flaky_failures:
                self._send(503, "busy", "text/plain")
            else:
                self._send(200, json.dumps({"calls": self.server.flaky_calls}), "application/json")
        elif path == "/slow":
            import time

            time.sleep(1.0)
            self._send(200, "late", "text/plain")
        else:
            self._send(404, "nope", "text/plain")

    def _send(self, status: int, text: str, content_type: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Set-Cookie", "session=secret")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


@pytest.fixture
def http_server() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests = []  # type: ignore[attr-defined]
    server.flaky_calls = 0  # type: ignore[attr-defined]
    server.flaky_failures = 2  # type: ignore[attr-defined]
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
