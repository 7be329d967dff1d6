"""`executions_app.dispatch.send_now`: the run message of every trigger, published without `apply_async`.

It must be the message Celery itself sends (a worker of any version of our code takes either), so
both are compared field by field as they reach kombu's `Producer.publish`; then one goes through
the real RabbitMQ and is read back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.app import push_current_task
from celery.app.task import Context
from celery.utils.threads import LocalStack
from django.conf import settings
from kombu import Connection, Consumer, Queue
from kombu.messaging import Producer

from config.queues import (
    CELERY_DELAY_BITS,
    CELERY_DELAY_ENTRY_EXCHANGE,
    DELAY_SUFFIX,
    EXECUTION_QUEUE,
    EXECUTION_ROUTING_KEY,
    MS_DELAY_BITS,
    WAKE_UP_QUEUE,
    WAKE_UP_ROUTING_KEY,
    delayed_routing_key,
)
from executions_app import dispatch
from executions_app.tasks import execution_run_task

Published = list[tuple[Any, dict[str, Any]]]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Published]:
    """What reaches kombu's publish, recorded instead of sent."""
    recorded: Published = []

    def publish(self: Producer, body: Any, **kwargs: Any) -> None:
        recorded.append((body, kwargs))

    monkeypatch.setattr(Producer, "publish", publish)
    yield recorded


def _without_id(body: Any, kwargs: dict[str, Any], task_id: str) -> tuple[Any, dict[str, Any]]:
    headers = {k: (None if v == task_id else v) for k, v in kwargs["headers"].items()}
    rest = {k: (None if v == task_id else v) for k, v in kwargs.items() if k != "headers"}
    return body, {**rest, "headers": headers}


def _both(sent: Published, args: list[Any], kwargs: dict[str, Any], options: dict[str, Any]) -> list[Any]:
    # Celery's way with the bound every publish of ours has (SCHEMA_PUBLISH_TIMEOUT_SECONDS).
    limit = settings.SCHEMA_PUBLISH_TIMEOUT_SECONDS
    result = execution_run_task.apply_async(args=args, kwargs=kwargs, timeout=limit, confirm_timeout=limit, **options)
    task_id = dispatch.send_now(execution_run_task, args, kwargs, options)
    assert len(sent) == 2
    celery_way = _without_id(*sent[0], result.id)
    ours = _without_id(*sent[1], task_id)
    return [celery_way, ours]


@pytest.fixture
def not_eager() -> Iterator[None]:
    """Publish for real (the test settings run tasks eagerly, without a message)."""
    app = execution_run_task.app
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = eager


def test_the_message_is_the_one_apply_async_sends(sent: Published, not_eager: None) -> None:
    execution_id = str(uuid.uuid4())
    options = {"argsrepr": repr([execution_id]), "kwargsrepr": "{}", "headers": {"request_id": "req-1"}}
    celery_way, ours = _both(sent, [execution_id], {}, options)
    assert ours == celery_way
    body, kwargs = ours
    assert body[0] == [execution_id]
    assert kwargs["headers"]["task"] == "engine.tasks.run_execution"
    assert kwargs["headers"]["request_id"] == "req-1"  # the request id reaches the worker's log lines
    assert kwargs["routing_key"] == EXECUTION_ROUTING_KEY
    assert kwargs["delivery_mode"] == 2  # persistent
    assert kwargs["retry"] is True and kwargs["declare"]
    # A broker that stops reading cannot hold the publishing thread: the write and the confirm are bounded.
    assert kwargs["timeout"] == kwargs["confirm_timeout"] == settings.SCHEMA_PUBLISH_TIMEOUT_SECONDS > 0


def test_from_inside_a_task_the_trail_is_kept_as_celery_keeps_it(sent: Published, not_eager: None) -> None:
    """A run task that used its step budget publishes its continuation from inside the task."""
    stack: LocalStack = execution_run_task.request_stack
    stack.push(Context(id="parent-task", root_id="root-task", called_directly=False))
    push_current_task(execution_run_task)
    try:
        execution_id = str(uuid.uuid4())
        celery_way, ours = _both(sent, [execution_id], {"timer_id": 7}, {"argsrepr": "x", "kwargsrepr": "y"})
    finally:
        from celery.app import pop_current_task

        pop_current_task()
        stack.pop()
    assert ours == celery_way
    assert ours[1]["headers"]["parent_id"] == "parent-task"
    assert ours[1]["headers"]["root_id"] == "root-task"
    assert ours[0][1] == {"timer_id": 7}


def test_starts_and_wake_ups_go_to_their_queues_and_delays_enter_the_delay_queues(
    monkeypatch: pytest.MonkeyPatch, not_eager: None
) -> None:
    calls: list[dict[str, Any]] = []

    def send_now(task: Any, args: list[Any], kwargs: dict[str, Any], options: dict[str, Any], **rest: Any) -> None:
        calls.append({"kwargs": kwargs, **options, **rest})

    monkeypatch.setattr(dispatch, "send_now", send_now)
    monkeypatch.setattr(execution_run_task, "apply_async", lambda *a, **k: pytest.fail("no Celery countdown/ETA"))
    now = datetime.now(UTC)

    dispatch.publish_execution(str(uuid.uuid4()), request_id="r")
    dispatch.publish_execution(str(uuid.uuid4()), wake_up=True)
    dispatch.publish_execution(str(uuid.uuid4()), eta=now + timedelta(seconds=5.5), timer_id=1)
    dispatch.publish_execution(str(uuid.uuid4()), eta=now - timedelta(seconds=1), timer_id=2)
    dispatch.publish_execution(str(uuid.uuid4()), countdown=2, busy_retries=1, wake_up=True)

    start, resume, timer, overdue, busy = calls
    assert start["queue"] == EXECUTION_QUEUE and "routing_key" not in start
    assert resume["queue"] == WAKE_UP_QUEUE and "routing_key" not in resume
    assert timer["queue"] == WAKE_UP_QUEUE and timer["exchange"] == CELERY_DELAY_ENTRY_EXCHANGE
    seconds, milliseconds = _delay_of(timer["routing_key"], WAKE_UP_ROUTING_KEY)
    assert seconds == 5 and 490 < milliseconds <= 500  # to the millisecond, never rounded to whole seconds
    assert overdue["queue"] == WAKE_UP_QUEUE and "routing_key" not in overdue  # due: at once
    assert _delay_of(busy["routing_key"], WAKE_UP_ROUTING_KEY) == (2, 0)
    assert all("eta" not in call and "countdown" not in call for call in calls)  # no worker holds a message


def _delay_of(routing_key: str, destination: str) -> tuple[int, int]:
    words = routing_key.split(".")
    assert words[CELERY_DELAY_BITS + MS_DELAY_BITS :] == [destination, DELAY_SUFFIX], routing_key
    return int("".join(words[:CELERY_DELAY_BITS]), 2), int("".join(words[CELERY_DELAY_BITS:-2]), 2)


def test_delay_ms_rounds_up_to_the_millisecond() -> None:
    now = datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert dispatch.delay_ms(now + timedelta(seconds=0.3), now) == 300
    assert dispatch.delay_ms(now + timedelta(microseconds=1), now) == 1  # never early
    assert dispatch.delay_ms(now + timedelta(seconds=2.0005), now) == 2001
    assert dispatch.delay_ms(now, now) == 0 and dispatch.delay_ms(now - timedelta(seconds=3), now) == 0


def test_delayed_routing_key_carries_seconds_and_milliseconds() -> None:
    assert _delay_of(delayed_routing_key(300, "rk"), "rk") == (0, 300)
    assert _delay_of(delayed_routing_key(1999, "rk"), "rk") == (1, 999)
    assert _delay_of(delayed_routing_key(86_400_000 + 1, "rk"), "rk") == (86_400, 1)
    assert len(delayed_routing_key(10**12, WAKE_UP_ROUTING_KEY)) < 255  # AMQP's short string


def test_a_message_sent_now_arrives_through_rabbitmq(not_eager: None) -> None:
    """Through the real broker: a task of a throwaway app whose only queue is private to the test
    (the execution queue of this vhost is left alone)."""
    from celery import Celery

    name = f"test_dispatch_{uuid.uuid4().hex[:8]}"
    probe = Queue(name, routing_key=name, auto_delete=True)
    app = Celery(name, broker=execution_run_task.app.conf.broker_url, set_as_current=False)
    app.conf.update(
        task_queues=(probe,),
        task_default_queue=name,
        task_default_routing_key=name,
        broker_transport_options=execution_run_task.app.conf.broker_transport_options,  # publisher confirms
    )

    def echo_execution(execution_id: str) -> str:
        return execution_id

    echo = app.task(name=f"{name}.echo", shared=False)(echo_execution)
    execution_id = str(uuid.uuid4())
    received: list[Any] = []
    with Connection(app.conf.broker_url) as conn:
        probe(conn.default_channel).declare()
        with Consumer(conn, [probe], callbacks=[lambda body, message: received.append((body, message))]):
            dispatch.send_now(
                echo, [execution_id], {}, {"argsrepr": "a", "kwargsrepr": "k", "headers": {"request_id": "q"}}
            )
            conn.drain_events(timeout=10)
        body, message = received[0]
        message.ack()
    app.close()
    assert body[0] == [execution_id]
    assert message.headers["task"] == f"{name}.echo"
    assert message.headers["request_id"] == "q"
    assert message.properties["delivery_mode"] == 2


def test_the_queue_is_declared_once_per_broker_connection(not_eager: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the real broker: the first publish on a connection declares the queue (a broker that
    lost it gets it back before the message), the next ones skip kombu's check; a new connection
    declares again."""
    from celery import Celery

    name = f"test_declare_{uuid.uuid4().hex[:8]}"
    queue = Queue(name, routing_key=name, durable=False)  # cached by kombu: neither auto-delete nor expiring
    app = Celery(name, broker=execution_run_task.app.conf.broker_url, set_as_current=False)
    app.conf.update(task_queues=(queue,), task_default_queue=name, task_default_routing_key=name)

    def echo_execution(execution_id: str) -> str:
        return execution_id

    echo = app.task(name=f"{name}.echo", shared=False)(echo_execution)
    declares: list[list[Any]] = []
    publish = Producer.publish

    def spy(self: Producer, body: Any, **kwargs: Any) -> Any:
        declares.append(list(kwargs.get("declare") or []))
        return publish(self, body, **kwargs)

    monkeypatch.setattr(Producer, "publish", spy)
    options = {"argsrepr": "a", "kwargsrepr": "k"}
    try:
        for _ in range(3):
            dispatch.send_now(echo, [str(uuid.uuid4())], {}, dict(options))
        with app.producer_or_acquire(None) as producer:
            producer.connection.close()  # the connection drops: the next publish reconnects
        dispatch.send_now(echo, [str(uuid.uuid4())], {}, dict(options))
        with Connection(app.conf.broker_url) as conn:
            ready = conn.default_channel.queue_declare(queue=name, passive=True).message_count
    finally:
        with Connection(app.conf.broker_url) as conn:
            conn.default_channel.queue_delete(name)
        app.close()
    assert [[q.name for q in d] for d in declares] == [[name], [], [], [name]]
    assert ready == 4  # every message arrived
