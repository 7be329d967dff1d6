"""Publishing execution messages to RabbitMQ (Celery), always after the database commit.

The broker carries only "start/continue execution X" messages (start, wake-up, retry); the
database row is the truth. Publishing after commit means a worker never sees an execution that does
not exist yet; a crash between commit and publish is repaired by the reconciler.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

from celery import current_app
from celery.utils import uuid
from django.conf import settings

from config.queues import (
    CELERY_DELAY_ENTRY_EXCHANGE,
    EXECUTION_QUEUE,
    PRIORITY_QUEUE,
    TASK_RUN_EXECUTION,
    WAKE_UP_QUEUE,
    delayed_routing_key,
)
from engine.policies import HIGH_PRIORITY

logger = logging.getLogger("schema.executions")


def delay_ms(eta: datetime, now: datetime | None = None) -> int:
    """Milliseconds until `eta`, rounded up (a timer may be a fraction of a millisecond late, never
    early); 0 when it is due."""
    return max(0, math.ceil((eta - (now or datetime.now(UTC))).total_seconds() * 1000))


_BROKER_DELAYS: dict[str, bool] = {}


def _broker_delays(app: Any) -> bool:
    """True when the broker holds delayed messages itself (RabbitMQ: the delay queues of
    config/queues.py). The embedded filesystem broker has none: there Celery's countdown waits in
    the worker's memory, which is fine for `make run`."""
    url = str(app.conf.broker_url)
    known = _BROKER_DELAYS.get(url)
    if known is None:
        known = _BROKER_DELAYS[url] = app.connection_for_write().transport.driver_type == "amqp"
    return known


def queue_ready_counts(*queues: str) -> dict[str, int]:
    """Messages ready (not yet delivered to a worker) in each queue, read from RabbitMQ; empty when
    that is unknown (eager, the embedded broker, the broker unreachable)."""
    app = current_app
    if app.conf.task_always_eager or not _broker_delays(app):
        return {}
    try:
        with app.connection_for_read() as connection:
            channel = connection.default_channel
            return {queue: int(channel.queue_declare(queue=queue, passive=True)[1]) for queue in queues}
    except Exception as exc:  # noqa: BLE001 - whatever the broker says, the caller proceeds without counts
        logger.warning("queue depth unavailable: %s", exc)
        return {}


def _run_task() -> Any:
    """The registered run task, looked up by name: the task module imports the runner, which
    publishes through this module, so dispatch never imports the tasks (`executions_app.apps`
    imports them in every process)."""
    return current_app.tasks[TASK_RUN_EXECUTION]


def start_queue(priority: int | None) -> str:
    """The queue a new execution's first message goes to: the priority queue from HIGH_PRIORITY,
    else the start queue. Every path that publishes a start (the trigger, a slot handed over, a
    resume of a paused schema, the outbox relay, the reconciler) routes through here, so a
    re-published high-priority start is not sent to the back of the normal backlog."""
    return PRIORITY_QUEUE if priority is not None and priority >= HIGH_PRIORITY else EXECUTION_QUEUE


def publish_execution(
    execution_id: str,
    *,
    request_id: str = "",
    eta: datetime | None = None,
    timer_id: int | None = None,
    busy_retries: int = 0,
    countdown: int | None = None,
    wake_up: bool = False,
    priority: int | None = None,
) -> None:
    """Publish "continue execution X" (now, at `eta`, or after `countdown` seconds).

    A new execution's first message goes to the start queue; everything that continues one already
    started (`wake_up`, and every timer's message) to the wake-up queue, which workers take ahead of
    a backlog of starts; a high-priority start (`priority` ≥ HIGH_PRIORITY) to the priority queue,
    taken ahead of that backlog too. A delayed message waits in RabbitMQ's delay queues, to the millisecond,
    and carries no ETA, so the worker runs it when it arrives instead of holding it in memory (a
    timer's message that arrives early anyway is sent back by the runner)."""
    task = _run_task()
    if wake_up or timer_id is not None:
        queue = WAKE_UP_QUEUE
    else:
        queue = start_queue(priority)
    args = [str(execution_id)]
    kwargs: dict[str, Any] = {"timer_id": timer_id} if timer_id is not None else {}
    if busy_retries:
        kwargs["busy_retries"] = busy_retries
    # The printable copies Celery puts in the message (events, Flower) made here: its generic
    # `saferepr` was a fifth of the publish's CPU on the webhook path.
    options: dict[str, Any] = {"argsrepr": repr(args), "kwargsrepr": repr(kwargs)}
    if request_id:
        options["headers"] = {"request_id": request_id}
    delay = delay_ms(eta) if eta is not None else max(0, countdown or 0) * 1000
    if task.app.conf.task_always_eager or (delay and not _broker_delays(task.app)):
        if delay:
            options["countdown"] = delay / 1000
        task.apply_async(args=args, kwargs=kwargs, queue=queue, **options)  # eager / embedded broker
        return
    if delay:
        options["exchange"] = CELERY_DELAY_ENTRY_EXCHANGE
        options["routing_key"] = delayed_routing_key(delay, task.app.amqp.queues[queue].routing_key)
    send_now(task, args, kwargs, options, queue=queue)


# --- the immediate message without `apply_async` ----------------------------------------------------
# Every trigger publishes one message that runs at once (a delayed one enters the delay queues).
# Through `apply_async` → `send_task`, Celery resolves the same things on every call (the task's
# options from the configuration, the route, the result object) around kombu's publish. `send_now`
# resolves them once per task and then does what `send_task` does for a message without ETA: the same
# `create_task_message` and `send_task_message` (signals, `task-sent` events, retry policy, queue
# declaration, publisher confirm): less CPU per message, figures in docs/performance.md.
# tests/executions_app/test_dispatch.py compares both
# messages field by field.
_ROUTES: dict[tuple[str, str | None], tuple[dict[str, Any], dict[str, Any]]] = {}


def _publish_timeout() -> float:
    return float(getattr(settings, "SCHEMA_PUBLISH_TIMEOUT_SECONDS", 5.0))


def _route(task: Any, queue: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what `create_task_message` takes from the task's options, the routed publish options): what
    `apply_async` + `send_task` compute per call, for a task whose routing does not depend on its
    arguments (ours: `task_routes` is not set; the queue is the default one or the one given)."""
    cached = _ROUTES.get((task.name, queue))
    if cached is None:
        app = task.app
        options = {k: v for k, v in task._get_exec_options().items() if v is not None}
        if queue is not None:
            options["queue"] = queue
        options.setdefault("ignore_result", task.ignore_result)
        message = {
            "time_limit": options.pop("time_limit", None),
            "soft_time_limit": options.pop("soft_time_limit", None),
            "expires": options.pop("expires", None),
            "ignore_result": options.pop("ignore_result", None),
        }
        if message["expires"] is not None:  # relative to each send: not something to cache
            raise ValueError(f"task {task.name} has `expires`: publish it with apply_async")
        cached = _ROUTES[(task.name, queue)] = (message, app.amqp.router.route(options, task.name, None, None, task))
    return cached


def send_now(
    task: Any, args: list[Any], kwargs: dict[str, Any], options: dict[str, Any], *, queue: str | None = None
) -> str:
    """Publishes `task(*args, **kwargs)` to run when it arrives (no ETA), as `task.apply_async` would;
    returns the task id. `options`: `argsrepr`, `kwargsrepr`, `headers` (merged into the message
    headers), and `exchange` + `routing_key` to enter the delay queues (the queue is still declared)."""
    app = task.app
    message_options, routed = _route(task, queue)
    publish_options = {**routed, **options}
    task_id = uuid()
    root_id = parent_id = None
    parent = app.current_worker_task  # published from inside a task: the same trail as send_task
    if parent is not None:
        root_id = parent.request.root_id or parent.request.id
        parent_id = parent.request.id
    message = app.amqp.create_task_message(
        task_id,
        task.name,
        args,
        kwargs,
        expires=None,
        reply_to=app.thread_oid,
        time_limit=message_options["time_limit"],
        soft_time_limit=message_options["soft_time_limit"],
        create_sent_event=app.conf.task_send_sent_event,
        root_id=root_id,
        parent_id=parent_id,
        ignore_result=message_options["ignore_result"],
        **publish_options,
    )
    with app.producer_or_acquire(None) as producer, producer.connection._reraise_as_library_errors():
        # Bounded: without it a broker that stops reading (a cut network, a memory alarm) holds this
        # thread forever, as kombu waits for the confirm with no limit; a timeout is a connection error,
        # retried by the retry policy on a new connection, then raised (the relay publishes it later).
        limit = _publish_timeout()
        queue_entity = publish_options.get("queue")
        if queue_entity is not None and hash(queue_entity) in producer.connection.declared_entities:
            # Declared on this connection already (kombu forgets on reconnect): skip kombu's check,
            # which binds a copy of the queue and builds a retry wrapper on every publish.
            publish_options = {**publish_options, "declare": []}
        app.amqp.send_task_message(
            producer, task.name, message, timeout=limit, confirm_timeout=limit, **publish_options
        )
    return task_id
