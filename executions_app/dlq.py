"""The dead-letter queue for operators: list, show, requeue and purge `schema_execution_dlq`.

Messages arrive there when RabbitMQ dead-letters them (rejected, or redelivered more than the
delivery limit — a poison message that kills workers) or when a task exhausts its infrastructure
retries (published here with the error in the `x-schema-error` header). Requeue republishes the
original Celery message with a fresh delivery count to the run queue it died in (its `x-death`
header), so a wake-up goes back to the wake-up queue and a high-priority start to the priority
queue; a letter without one (an exhausted retry) goes where `dispatch.publish_execution` would send
its execution now: a timer's or a started execution's to the wake-up queue, a start by its priority.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from kombu import Connection, Producer

from config.queues import (
    DLQ,
    RUN_QUEUES,
    WAKE_UP_QUEUE,
    dead_letter_exchange,
    dead_letter_queue,
    declare_topology,
    execution_exchange,
)

from .dispatch import start_queue
from .models import Execution

_RUN_QUEUES = {queue.name: queue for queue in RUN_QUEUES}


@dataclass
class DeadLetter:
    index: int
    task: str
    args: Any
    kwargs: Any
    headers: dict[str, Any]
    reason: str
    body: Any
    content_type: str
    content_encoding: str


def _reason(headers: dict[str, Any]) -> str:
    if headers.get("x-schema-error"):
        return str(headers["x-schema-error"])
    deaths = headers.get("x-death") or []
    if deaths:
        death = deaths[0]
        return f"{death.get('reason')} from {death.get('queue')} (count {death.get('count')})"
    if headers.get("x-first-death-reason"):
        return f"{headers['x-first-death-reason']} from {headers.get('x-first-death-queue')}"
    return "unknown"


def _peek(connection: Connection, limit: int) -> tuple[list[DeadLetter], list[Any]]:
    """Fetch up to `limit` messages without acking them (they go back on channel close)."""
    declare_topology(connection)
    channel = connection.channel()
    queue = dead_letter_queue.bind(channel)
    letters, raw = [], []
    for index in range(limit):
        message = queue.get(no_ack=False)
        if message is None:
            break
        headers = dict(message.headers or {})
        body = message.decode() if message.content_type == "application/json" else message.body
        args, kwargs = (body[0], body[1]) if isinstance(body, list | tuple) and len(body) >= 2 else (body, {})
        letters.append(
            DeadLetter(
                index,
                str(headers.get("task", "?")),
                args,
                kwargs,
                headers,
                _reason(headers),
                message.body,
                message.content_type,
                message.content_encoding,
            )
        )
        raw.append(message)
    return letters, raw


def dlq_list(url: str, limit: int = 100) -> list[DeadLetter]:
    with Connection(url) as connection:
        letters, _ = _peek(connection, limit)
        return letters


def dlq_depth(url: str) -> int:
    with Connection(url) as connection:
        declare_topology(connection)
        _, count, _ = dead_letter_queue.bind(connection.default_channel).queue_declare(passive=True)
        return int(count)


def _died_in(headers: dict[str, Any]) -> str | None:
    """The run queue a message was dead-lettered from: the newest `x-death` entry naming one (a
    delayed message's passage through the delay queues left entries too, for their expiries)."""
    for death in headers.get("x-death") or []:
        if isinstance(death, dict) and death.get("queue") in _RUN_QUEUES:
            return str(death["queue"])
    for key in ("x-last-death-queue", "x-first-death-queue"):
        if headers.get(key) in _RUN_QUEUES:
            return str(headers[key])
    return None


def requeue_target(letter: DeadLetter) -> str:
    """The run queue a dead letter goes back to (see the module)."""
    died = _died_in(letter.headers)
    if died is not None:
        return died
    if isinstance(letter.kwargs, dict) and letter.kwargs.get("timer_id") is not None:
        return WAKE_UP_QUEUE
    execution_id = letter.args[0] if isinstance(letter.args, list | tuple) and letter.args else None
    try:
        row = Execution.objects.filter(pk=str(execution_id)).values_list("started_at", "priority").first()
    except (ValueError, ValidationError):  # not an execution id: a start, as every run message was
        row = None
    if row is None:
        return start_queue(None)
    started_at, priority = row
    return WAKE_UP_QUEUE if started_at is not None else start_queue(priority)


def dlq_requeue(url: str, indexes: set[int] | None = None, limit: int = 10_000) -> dict[str, int]:
    """Move messages (all, or those at `indexes` in list order) back to their run queues
    (`requeue_target`); returns how many went to each."""
    moved: dict[str, int] = {}
    with Connection(url) as connection:
        letters, raw = _peek(connection, limit)
        producer = Producer(connection.channel(), exchange=execution_exchange)
        for letter, message in zip(letters, raw, strict=True):
            if indexes is not None and letter.index not in indexes:
                message.reject(requeue=True)
                continue
            queue = requeue_target(letter)
            headers = {k: v for k, v in letter.headers.items() if not k.startswith("x-")}
            headers["retries"] = 0
            producer.publish(
                letter.body,
                routing_key=_RUN_QUEUES[queue].routing_key,
                headers=headers,
                content_type=letter.content_type,
                content_encoding=letter.content_encoding,
                delivery_mode=2,
                correlation_id=headers.get("id"),
            )
            message.ack()
            moved[queue] = moved.get(queue, 0) + 1
    return moved


def dlq_purge(url: str) -> int:
    with Connection(url) as connection:
        declare_topology(connection)
        return int(dead_letter_queue.bind(connection.default_channel).purge() or 0)


def publish_dead_letter(*, app: Any, task_name: str, args: list[Any], kwargs: dict[str, Any], error: str) -> None:
    """Publish a Celery-compatible message straight to the DLQ (used when retries are exhausted)."""
    task_id = str(uuid.uuid4())
    with app.connection_for_write() as connection:
        declare_topology(connection)
        producer = Producer(connection.channel(), exchange=dead_letter_exchange)
        producer.publish(
            [args, kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
            routing_key=DLQ,
            serializer="json",
            headers={
                "lang": "py",
                "task": task_name,
                "id": task_id,
                "root_id": task_id,
                "retries": 0,
                "argsrepr": repr(args),
                "kwargsrepr": repr(kwargs),
                "x-schema-error": error[-4000:],
            },
            delivery_mode=2,
        )
