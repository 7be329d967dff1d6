"""A PostgreSQL restart during a burst of webhooks to a real API (gunicorn) and a real worker: every
answer is a 202 or a 503 with Retry-After (a client retries either way; a 500 says "bug"), and every
202 completes. Before, 20 of 504 webhooks got `500 server_error` during such a restart."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from django.db import connection

from tests.builders import linear_definition
from tests.factories import create_schema
from tests.helpers.live_api import gunicorn_servers
from tests.system.conftest import SystemEnv
from tests.system.helpers import SYSTEM_MARKS, assert_nothing_twice, wait_all

pytestmark = SYSTEM_MARKS


def _post(url: str, secret: str, n: int) -> tuple[int, str, str]:
    """(status, execution id or "", Retry-After)"""
    request = urllib.request.Request(
        url,
        data=json.dumps({"name": f"n{n}"}).encode(),
        headers={"Content-Type": "application/json", "X-Schema-Secret": secret},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()).get("id", ""), response.headers.get("Retry-After", "")
    except urllib.error.HTTPError as exc:
        return exc.code, "", exc.headers.get("Retry-After", "")


@pytest.mark.timeout(300)
def test_webhooks_during_a_postgresql_restart_are_202_or_503_and_every_202_completes(system: SystemEnv) -> None:
    schema = create_schema(definition=linear_definition("webhook_trigger"), name="outage", activate=True)
    system.start_worker(concurrency=2)
    answers: list[tuple[int, str, str]] = []
    stop = threading.Event()
    with gunicorn_servers(
        1,
        DJANGO_SETTINGS_MODULE="config.settings.system",
        RABBITMQ_URL=system.vhost.url,
        CELERY_TASK_ALWAYS_EAGER="false",
        DB_CONN_MAX_AGE="60",  # kept connections: the restart breaks them under the API's feet
        LOG_LEVEL="WARNING",
    ) as [base]:
        hook = f"{base}/api/hooks/{schema.id}/"

        def send(offset: int) -> None:
            n = offset
            while not stop.is_set():
                answers.append(_post(hook, schema.webhook_secret, n))
                n += 4
                time.sleep(0.02)

        senders = [threading.Thread(target=send, args=(i,)) for i in range(4)]
        for sender in senders:
            sender.start()
        try:
            time.sleep(1.5)
            before = len(answers)
            system.services.restart_postgres()
            time.sleep(3)
        finally:
            stop.set()
            for sender in senders:
                sender.join(timeout=60)
    connection.close()  # the test's own connection died with the restart

    statuses = Counter(status for status, _, _ in answers)
    print(f"\n[PostgreSQL restart in a webhook burst] {len(answers)} answers ({before} before it): {dict(statuses)}")
    assert set(statuses) <= {202, 503}, statuses
    assert statuses[202] > before, "webhooks were accepted again after the restart"
    assert statuses[503] > 0, "some webhooks met the restart"
    assert all(retry == "5" for status, _, retry in answers if status == 503)
    accepted = [execution_id for status, execution_id, _ in answers if status == 202]
    assert len(set(accepted)) == len(accepted)
    wait_all(accepted, "completed", timeout=180, what="every accepted webhook's execution")
    assert_nothing_twice(accepted)
