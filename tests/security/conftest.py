"""Fixtures of the security tests: hostile local HTTP servers (`tests.helpers.http_server`), fake DNS,
running a schema via the API."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.builders import edge, node
from tests.factories import create_schema
from tests.helpers.http_server import FakeHandler, LocalServer

# test_outbound.py builds a second server on the same port from the handler.
_Handler = FakeHandler


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
