"""Fixtures of the engine tests: a local HTTP server on 127.0.0.1 for `http_request`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.http_server import LocalServer


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    server = LocalServer("127.0.0.1")
    yield server
    server.close()
