"""Pausing, resuming and draining a schema with real processes (issue 16 item 5): webhook calls and
the operator's actions go through a real API process (gunicorn), executions run on a real worker,
and beat runs the reconciler every second and the outbox relay meanwhile — so a held execution
that anything started before the resume would show.

- `when_paused: queue`: calls made while paused answer 202 and are held (nothing reaches the slow
  endpoint); the executions already running go on to the end; drain reports them, then `drained`;
  the resume starts every held one, each exactly once.
- `when_paused: refuse`: a call made while paused is a 409 and creates nothing; the running one
  goes on; after the resume calls start at once.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from executions_app.models import Execution
from executions_app.pausing import PAUSED_REASON
from tests.factories import UserFactory, create_schema
from tests.helpers.http_server import LocalServer
from tests.helpers.live_api import gunicorn_servers
from tests.system.conftest import SystemEnv
from tests.system.helpers import (
    SYSTEM_MARKS,
    LiveApi,
    assert_nothing_twice,
    http_definition,
    idempotency_keys,
    wait_all,
    wait_until,
)

pytestmark = SYSTEM_MARKS
NODES = ["start", "prepare", "charge", "note", "done"]
RECONCILER = {"SCHEMA_RECONCILE_GRACE_SECONDS": "2", "SCHEMA_RECONCILE_INTERVAL_SECONDS": "1"}


def _webhook_schema(user: Any, url: str, when_paused: str) -> Any:
    definition = http_definition(url)
    definition["nodes"][0]["type"] = "webhook_trigger"
    definition["settings"] = {"when_paused": when_paused}
    return create_schema(user=user, definition=definition, name=f"paused-{when_paused}", activate=True)


def _start_beat(system: SystemEnv) -> None:
    beat = system.start_beat(**RECONCILER)
    wait_until(lambda: "outbox relay listening" in beat.log(), timeout=120, what="beat and its outbox relay")


@pytest.mark.timeout(300)
def test_a_paused_schema_holds_webhook_calls_and_the_resume_starts_each_once(
    system: SystemEnv, slow_server: LocalServer
) -> None:
    slow_server.delay = 3.0
    user = UserFactory()
    schema = _webhook_schema(user, slow_server.url("/charge"), "queue")
    system.start_worker(concurrency=2, **RECONCILER)
    _start_beat(system)
    with gunicorn_servers(1, **system.api_env()) as [base]:
        api = LiveApi(base, Token.objects.create(user=user).key)
        before = [api.hook(schema, n) for n in range(2)]
        assert [status for status, _ in before] == [202, 202]
        running = [body["id"] for _, body in before]
        wait_until(lambda: len(slow_server.requests) == 2, timeout=60, what="both executions in their slow call")

        assert api.action(schema, "pause")["paused_at"] is not None
        answers = [api.hook(schema, n) for n in range(2, 7)]
        assert [status for status, _ in answers] == [202] * 5
        assert {(body["status"], body["queued"]) for _, body in answers} == {("pending", PAUSED_REASON)}
        held = [body["id"] for _, body in answers]
        report = api.action(schema, "drain")
        assert (report["paused"], report["running"], report["held"], report["drained"]) == (True, 2, 5, False)

        # The running ones go on to the end; the held ones stay held (the reconciler ticks every second).
        wait_all(running, "completed", timeout=90, what="the executions accepted before the pause")
        time.sleep(4)  # two reconciler grace periods
        assert Execution.objects.filter(pk__in=held, status="pending", queued_reason=PAUSED_REASON).count() == 5
        assert len(slow_server.requests) == 2, "nothing held reached the endpoint while paused"
        report = api.action(schema, "drain", method="GET")
        assert (report["running"], report["held"], report["drained"]) == (0, 5, True)

        slow_server.delay = 0.3
        assert api.action(schema, "resume")["paused_at"] is None
        wait_all(held, "completed", timeout=120, what="the held executions after the resume")
        time.sleep(3)  # a duplicate message, if any, would run now
        report = api.action(schema, "drain", method="GET")
        assert (report["paused"], report["running"], report["held"]) == (False, 0, 0)

    assert_nothing_twice(running + held, expected_nodes=NODES)
    keys = idempotency_keys(slow_server)
    assert sorted(keys) == sorted(f"{execution_id}:charge:1" for execution_id in running + held), keys
    system.assert_dlq_empty()


@pytest.mark.timeout(300)
def test_with_refuse_a_paused_schema_answers_409_and_its_running_execution_goes_on(
    system: SystemEnv, slow_server: LocalServer
) -> None:
    slow_server.delay = 3.0
    user = UserFactory()
    schema = _webhook_schema(user, slow_server.url("/charge"), "refuse")
    system.start_worker(concurrency=2, **RECONCILER)
    _start_beat(system)
    with gunicorn_servers(1, **system.api_env()) as [base]:
        api = LiveApi(base, Token.objects.create(user=user).key)
        status, body = api.hook(schema, 0)
        assert status == 202
        running = body["id"]
        wait_until(lambda: len(slow_server.requests) == 1, timeout=60, what="the execution in its slow call")

        api.action(schema, "pause")
        refused = [api.hook(schema, n) for n in range(1, 4)]
        assert [status for status, _ in refused] == [409] * 3
        assert refused[0][1]["detail"] == ("The schema is paused: it starts no new executions until it is resumed."), (
            refused[0][1]
        )
        assert Execution.objects.filter(schema=schema).count() == 1, "a refused call creates nothing"
        wait_all([running], "completed", timeout=90, what="the execution accepted before the pause")
        assert api.action(schema, "drain", method="GET")["drained"] is True

        slow_server.delay = 0.1
        api.action(schema, "resume")
        status, body = api.hook(schema, 9)
        assert status == 202 and body["queued"] is None
        wait_all([body["id"]], "completed", timeout=60, what="a call after the resume")

    assert Execution.objects.filter(schema=schema).count() == 2
    assert_nothing_twice([running, body["id"]], expected_nodes=NODES)
    assert len(slow_server.requests) == 2
    system.assert_dlq_empty()
