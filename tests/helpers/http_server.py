"""A fake HTTP server on a loopback address, for every test of outbound calls.

`LocalServer` serves `FakeHandler` from a thread and records each request (method, path with query,
headers, body) in `requests`. The routes cover what the engine, security and system tests need:
plain answers, status codes, redirects, slow, huge, trickling and malformed bodies, and a slow
side-effecting `/charge` that can fail its first calls, a `/ledger` that honours idempotency keys
(each key's effect applied once, repeats answered as replays), and an OAuth2 token endpoint with a
protected route. Every answer but a redirect sets a cookie, so tests can check that response
cookies are redacted. No Django: the engine tests use it too.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


class FakeHandler(BaseHTTPRequestHandler):
    server: Any  # a ThreadingHTTPServer with `requests` and `name` (and `delay`, `fail_first` for /charge)
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        path, _, query = self.path.partition("?")
        if path == "/json":
            self.send(200, json.dumps({"ok": True, "path": self.path, "body": body}), "application/json")
        elif path == "/ok":
            self.send(200, json.dumps({"ok": True, "server": self.server.name}), "application/json")
        elif path == "/text":
            self.send(200, "plain words", "text/plain")
        elif path.startswith("/status/"):
            self.send(int(path.rsplit("/", 1)[1]), json.dumps({"status": "bad"}), "application/json")
        elif path == "/redirect":  # to ?to=<url>, else to /json
            self.send_response(302)
            self.send_header("Location", unquote(query.removeprefix("to=")) or "/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/slow":
            time.sleep(1.0)
            self.send(200, "late", "text/plain")
        elif path == "/charge":  # a side effect taking `server.delay` s; its first `server.fail_first` calls fail
            time.sleep(self.server.delay)
            failing = len(self.server.requests) <= self.server.fail_first
            self.send(500 if failing else 200, json.dumps({"ok": not failing}), "application/json")
        elif path == "/ledger":  # a receiver honouring Idempotency-Key: applies each key once, replays repeats
            time.sleep(self.server.delay)
            key = self.headers.get("Idempotency-Key") or ""
            with self.server.ledger_lock:
                replay = key in self.server.ledger
                if replay:
                    self.server.replays += 1
                else:
                    self.server.ledger[key] = body
            self.send(200, json.dumps({"ok": True, "replayed": replay}), "application/json")
        elif path == "/big":
            size = 3 * 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(size // len(chunk)):
                    self.wfile.write(chunk)
            except OSError:
                pass
        elif path == "/trickle":  # one byte every 0.1 s, for up to a minute (slowloris)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(600):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif path == "/binary":
            self.send(200, b"\x00\x01\x02 binary \x00 \xff\xfe", "application/octet-stream")
        elif path == "/nul-json":
            self.send(200, b'{"a": "x\\u0000y", "b": NaN, "\\u0000k": "\\ud800"}', "application/json")
        elif path == "/echo":
            self.send(200, json.dumps({"headers": dict(self.headers), "path": self.path}), "application/json")
        elif path == "/oauth/token":  # OAuth2 client credentials for client "app", secret `server.client_secret`
            expected = "Basic " + base64.b64encode(f"app:{self.server.client_secret}".encode()).decode()
            if self.headers.get("Authorization") != expected or "grant_type=client_credentials" not in body:
                self.send(401, json.dumps({"error": "invalid_client"}), "application/json")
            else:
                self.server.tokens.append(f"tok{len(self.server.tokens) + 1}-{secrets.token_hex(8)}")
                answer = {"access_token": self.server.tokens[-1], "token_type": "Bearer", "expires_in": 3600}
                self.send(200, json.dumps(answer), "application/json")
        elif path == "/protected":  # the echo, for the newest token from /oauth/token only; else 401
            valid = bool(self.server.tokens) and self.headers.get("Authorization") == f"Bearer {self.server.tokens[-1]}"
            answer = {"headers": dict(self.headers)} if valid else {"error": "invalid_token"}
            self.send(200 if valid else 401, json.dumps(answer), "application/json")
        else:
            self.send(404, "nope", "text/plain")

    def send(self, status: int, data: bytes | str, content_type: str) -> None:
        payload = data.encode() if isinstance(data, str) else data
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Set-Cookie", "session=server-secret")
        self.end_headers()
        try:
            self.wfile.write(payload)
        except OSError:
            pass  # the caller gave up (timeout) or was killed meanwhile

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class LocalServer:
    """`FakeHandler` on `host` (port chosen by the system unless given), served from a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", name: str = "local", *, port: int = 0) -> None:
        self.server = ThreadingHTTPServer((host, port), FakeHandler)
        self.server.daemon_threads = True
        self.server.requests = []  # type: ignore[attr-defined]
        self.server.name = name  # type: ignore[attr-defined]
        self.server.delay = 0.0  # type: ignore[attr-defined]
        self.server.fail_first = 0  # type: ignore[attr-defined]
        self.server.client_secret = "client-secret-" + secrets.token_hex(8)  # type: ignore[attr-defined]
        self.server.tokens = []  # type: ignore[attr-defined]  # issued by /oauth/token, newest last
        self.server.ledger = {}  # type: ignore[attr-defined]  # /ledger: the effect applied per key
        self.server.ledger_lock = threading.Lock()  # type: ignore[attr-defined]
        self.server.replays = 0  # type: ignore[attr-defined]  # /ledger requests with a key seen before
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.server.requests  # type: ignore[attr-defined,no-any-return]

    @property
    def delay(self) -> float:
        """Seconds `/charge` takes."""
        return float(self.server.delay)  # type: ignore[attr-defined]

    @delay.setter
    def delay(self, seconds: float) -> None:
        self.server.delay = seconds  # type: ignore[attr-defined]

    @property
    def fail_first(self) -> int:
        """How many of the first `/charge` calls answer 500."""
        return int(self.server.fail_first)  # type: ignore[attr-defined]

    @fail_first.setter
    def fail_first(self, count: int) -> None:
        self.server.fail_first = count  # type: ignore[attr-defined]

    @property
    def client_secret(self) -> str:
        """The OAuth2 client secret `/oauth/token` accepts for client id "app"."""
        return str(self.server.client_secret)  # type: ignore[attr-defined]

    @property
    def tokens(self) -> list[str]:
        """Access tokens `/oauth/token` issued, newest last (only the newest opens `/protected`)."""
        return self.server.tokens  # type: ignore[attr-defined,no-any-return]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/ok", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def wait_for_request(self, timeout: float) -> bool:
        """True as soon as a request has arrived; False if none did within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.requests:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
