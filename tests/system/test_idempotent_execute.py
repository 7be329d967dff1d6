"""A manual run whose request was cut (the client closed the connection without reading the answer)
is retried with the same `Idempotency-Key` against a real API (gunicorn) and worker: the retry
answers the execution the cut request started, and it runs once. Before, such a client had no
way to know, and its retry started a second run."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from executions_app.models import Execution
from tests.builders import linear_definition
from tests.factories import UserFactory, create_schema
from tests.helpers.live_api import gunicorn_servers
from tests.system.conftest import SystemEnv
from tests.system.helpers import SYSTEM_MARKS, assert_nothing_twice, wait_all, wait_until

pytestmark = SYSTEM_MARKS


def _cut_request(base: str, path: str, headers: dict[str, str], body: bytes) -> None:
    """Sends the whole request, then closes the connection without reading a byte of the answer."""
    host, port = base.removeprefix("http://").split(":")
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def _post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.timeout(240)
def test_a_cut_manual_run_retried_with_the_same_key_runs_once(system: SystemEnv) -> None:
    user = UserFactory()
    token = Token.objects.create(user=user).key
    schema = create_schema(user=user, definition=linear_definition(), name="cut-and-retry")
    system.start_worker(concurrency=2)
    path = f"/api/schemas/{schema.id}/execute/"
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Idempotency-Key": "order-7"}
    body = json.dumps({"payload": {"name": "Ada"}}).encode()
    with gunicorn_servers(
        1,
        DJANGO_SETTINGS_MODULE="config.settings.system",
        RABBITMQ_URL=system.vhost.url,
        CELERY_TASK_ALWAYS_EAGER="false",
        LOG_LEVEL="WARNING",
    ) as [base]:
        _cut_request(base, path, headers, body)
        started = wait_until(
            lambda: list(Execution.objects.filter(schema=schema).values_list("id", flat=True)),
            timeout=60,
            what="the cut request's execution",
        )
        status, again = _post(base + path, headers, body)
        other_status, other = _post(base + path, headers, json.dumps({"payload": {"name": "Grace"}}).encode())
    assert status == 202
    assert again["id"] == str(started[0])  # the retry is answered with the cut request's execution
    assert other_status == 409 and "already used for a different request" in other["detail"]
    wait_all([again["id"]], "completed", timeout=120, what="the execution")
    assert Execution.objects.filter(schema=schema).count() == 1
    assert_nothing_twice([again["id"]])
