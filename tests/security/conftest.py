"""Fixtures of the security tests: hostile local HTTP servers, fake DNS, running a schema via the API."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import create_schema, edge, node


class _Handler(BaseHTTPRequestHandler):
    server: Any
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
        if path == "/ok":
            self._send(200, json.dumps({"ok": True, "server": self.server.name}).encode(), "application/json")
        elif path == "/redirect":
            target = query.removeprefix("to=")
            from urllib.parse import unquote

            self.send_response(302)
            self.send_header("Location", unquote(target))
            self.send_header("Content-Length", "0")
            self.end_headers()
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
            self._send(200, b"\x00\x01\x02 binary \x00 \xff\xfe", "application/octet-stream")
        elif path == "/nul-json":
            self._send(200, b'{"a": "x\\u0000y", "b": NaN, "\\u0000k": "\\ud800"}', "application/json")
        elif path == "/echo":
            self._send(200, json.dumps({"headers": dict(self.headers), "path": self.path}).encode(), "application/json")
        else:
            self._send(404, b"nope", "text/plain")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Set-Cookie", "session=server-secret")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class LocalServer:
    def __init__(self, host: str, name: str) -> None:
        self.server = ThreadingHTTPServer((host, 0), _Handler)
        self.server.daemon_threads = True
        self.server.requests = []  # type: ignore[attr-defined]
        self.server.name = name  # type: ignore[attr-defined]
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.server.requests  # type: ignore[attr-defined,no-any-return]

    def url(self, path: str = "/ok", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal_server() -> Iterator[LocalServer]:
    """A 'private' service on 127.0.0.1: what an attacker wants to reach."""
    server = LocalServer("127.0.0.1", "internal")
    yield server
    server.close()


@pytest.fixture
def allowed_server() -> Iterator[LocalServer]:
    """A service on 127.0.0.2 — the tests allow-list 127.0.0.2/32, standing in for a public host."""
    server = LocalServer("127.0.0.2", "allowed")
    yield server
    server.close()


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Names → list of addresses (or a callable returning one per call); other names resolve normally."""
    table: dict[str, Any] = {}
    calls: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in table:
            calls.append(name)
            entry = table[name]
            addresses = entry() if callable(entry) else entry
            out = []
            for address in addresses:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr = (address, int(port or 0), 0, 0) if family == socket.AF_INET6 else (address, int(port or 0))
                out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            return out
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    table["__calls__"] = calls
    return table


def http_definition(config: dict[str, Any], *, on_error: str = "fail") -> dict[str, Any]:
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("call", "http_request", config, on_error=on_error),
            node("done", "end", {"output": "{{ nodes.call.output }}"}),
        ],
        "edges": [edge("start", "call"), edge("call", "done")],
    }


@pytest.fixture
def run_schema(api: APIClient, user: Any) -> Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Creates a schema, runs it through `POST /execute/` (Celery is eager in tests) and returns
    the execution and its steps as the API shows them."""

    def run(definition: dict[str, Any], payload: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        schema = create_schema(user=user, definition=definition)
        response = api.post(f"/api/schemas/{schema.id}/execute/", {"payload": payload or {}}, format="json")
        assert response.status_code == 202, response.content
        execution_id = response.json()["id"]
        execution = api.get(f"/api/executions/{execution_id}/").json()
        steps = api.get(f"/api/executions/{execution_id}/steps/").json()
        return execution, steps

    return run


def step(steps: list[dict[str, Any]], node_id: str) -> dict[str, Any]:
    matching = [s for s in steps if s["node_id"] == node_id]
    assert matching, f"no step of {node_id}: {steps}"
    return matching[-1]
