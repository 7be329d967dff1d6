"""`max_concurrency` under a race on PostgreSQL: 8 worker threads (each its own database connection)
take messages in the worst order (newest first, every one twice) while a second "API" thread keeps
creating executions. Never more than the limit run at once (sampled from the database and from the
executions' own start/finish times), every execution completes once, and they start in FIFO order.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest
from django.db import connection

from executions_app import admission, runner, services
from executions_app.models import Execution, ExecutionStatus, ExecutionStep, TriggerType
from executions_app.runner import execution_run
from executions_app.services import execution_create
from tests.builders import chain, node
from tests.factories import create_schema
from tests.helpers.http_server import LocalServer

pytestmark = pytest.mark.django_db(transaction=True)
LIMIT = 3
WORKERS = 8


@pytest.fixture
def charge_server() -> Any:
    server = LocalServer()
    server.server.delay = 0.05  # type: ignore[attr-defined]
    yield server
    server.server.shutdown()


def test_never_more_than_the_limit_run_with_workers_racing(
    charge_server: LocalServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the race is decided by PostgreSQL")
    settings.SCHEMA_HTTP_ALLOWLIST = ["127.0.0.1"]
    messages: queue.Queue[str] = queue.Queue()

    def publish(execution_id: str, **_: Any) -> None:
        messages.put(str(execution_id))
        messages.put(str(execution_id))  # redelivered too

    for module in (services, admission, runner):
        monkeypatch.setattr(module, "publish_execution", publish)
    url = f"http://127.0.0.1:{charge_server.port}/charge"
    definition = chain(
        node("start", "webhook_trigger"),
        node("charge", "http_request", {"method": "POST", "url": url}),
        node("done", "end", {"output": "ok"}),
    )
    definition["settings"] = {"max_concurrency": LIMIT}
    schema = create_schema(definition=definition, activate=True)

    first = [execution_create(schema=schema, trigger_type=TriggerType.WEBHOOK, publish=False)[0] for _ in range(12)]
    for execution in reversed(first):  # the newest first: only admission keeps the order
        publish(str(execution.id))
    total = 24
    running_seen: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def api() -> None:
        try:
            for _ in range(total - len(first)):
                execution_create(schema=schema, trigger_type=TriggerType.WEBHOOK)
                time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def worker(n: int) -> None:
        try:
            while not done.is_set():
                try:
                    execution_id = messages.get(timeout=0.2)
                except queue.Empty:
                    continue
                execution_run(execution_id, worker_id=f"w{n}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def sampler() -> None:
        try:
            while not done.is_set():
                running_seen.append(Execution.objects.filter(schema=schema, status=ExecutionStatus.RUNNING).count())
                time.sleep(0.005)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    threads += [threading.Thread(target=api), threading.Thread(target=sampler)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not errors:
        finished = Execution.objects.filter(schema=schema, status=ExecutionStatus.COMPLETED).count()
        if finished == total:
            break
        time.sleep(0.1)
    done.set()
    for thread in threads:
        thread.join(10)

    assert not errors, errors
    executions = list(Execution.objects.filter(schema=schema).order_by("created_at", "id"))
    assert [e.status for e in executions] == ["completed"] * total
    assert ExecutionStep.objects.filter(execution__schema=schema, node_id="charge").count() == total
    assert len(charge_server.requests) == total  # each side effect once
    assert running_seen and max(running_seen) <= LIMIT
    assert max(running_seen) == LIMIT, "the limit was never reached: the test raced nothing"
    # At every start, how many had started and not finished yet (the start included).
    spans = [(e.started_at, e.finished_at) for e in executions if e.started_at and e.finished_at]
    assert len(spans) == total
    for start, _ in spans:
        at_once = len([1 for begun, ended in spans if begun <= start < ended])
        assert at_once <= LIMIT
    # FIFO: slots are handed out in creation order, so no execution starts more than LIMIT - 1
    # places away from its place in the queue.
    by_start = sorted(range(total), key=lambda i: executions[i].started_at)  # type: ignore[arg-type,return-value]
    assert all(abs(place - index) < LIMIT for place, index in enumerate(by_start)), by_start
