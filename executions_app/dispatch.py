"""Publishing execution messages to RabbitMQ (Celery), always after the database commit.

The broker carries only "start/continue execution X" messages (start, wake-up, retry); the
database row is the truth. Publishing after commit means a worker never sees an execution that does
not exist yet; a crash between commit and publish is repaired by the reconciler.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from celery import current_app
from celery.utils import uuid

from config.queues import TASK_RUN_EXECUTION

# The worker may hold a message in memory until its ETA for at most this long (see broker_delay).
MAX_WORKER_HOLD_SECONDS = 0.25
_FLOOR_MARGIN_SECONDS = 0.005


def broker_delay(eta: datetime, now: datetime | None = None) -> dict[str, Any]:
    """The `apply_async` options that deliver a message at `eta` without a worker waiting long.

    RabbitMQ's delay queues (Celery's native delayed delivery) count whole seconds, and Celery
    truncates (`int(countdown)`). Passing any ETA as is therefore (a) raised `ValueError: countdown
    must be a positive number` when it was less than 1 s away (a 1 s delay published a few ms after
    its pause: the pause transaction failed), and (b) delivered up to 1 s early, so the worker held
    the message in memory until its ETA, occupying one of its static (quorum queue) prefetch slots:
    under a burst of timers the worker stopped consuming and timers fired many seconds late.
    So: when the fraction of a second is small, send the ETA (the broker carries the whole seconds,
    the worker holds the message at most MAX_WORKER_HOLD_SECONDS: on time); otherwise round the
    countdown UP (delivered at most 1 - MAX_WORKER_HOLD_SECONDS late, nothing held).
    """
    seconds = (eta - (now or datetime.now(UTC))).total_seconds()
    if seconds <= 0:
        return {}
    whole = math.floor(seconds)
    fraction = seconds - whole
    if whole >= 1 and _FLOOR_MARGIN_SECONDS <= fraction <= MAX_WORKER_HOLD_SECONDS:
        return {"eta": eta}
    return {"countdown": max(1, math.ceil(seconds))}


def _run_task() -> Any:
    """The registered run task, looked up by name: the task module imports the runner, which
    publishes through this module, so dispatch never imports the tasks (`executions_app.apps`
    imports them in every process)."""
    return current_app.tasks[TASK_RUN_EXECUTION]


def publish_execution(
    execution_id: str,
    *,
    request_id: str = "",
    eta: datetime | None = None,
    timer_id: int | None = None,
    busy_retries: int = 0,
    countdown: int | None = None,
) -> None:
    """Publish "continue execution X" (now, at `eta`, or after a whole-second `countdown`)."""
    task = _run_task()
    args = [str(execution_id)]
    kwargs: dict[str, Any] = {"timer_id": timer_id} if timer_id is not None else {}
    if busy_retries:
        kwargs["busy_retries"] = busy_retries
    # The printable copies Celery puts in the message (events, Flower) made here: its generic
    # `saferepr` was a fifth of the publish's CPU on the webhook path.
    options: dict[str, Any] = {"argsrepr": repr(args), "kwargsrepr": repr(kwargs)}
    if request_id:
        options["headers"] = {"request_id": request_id}
    if eta is not None:
        options.update(broker_delay(eta))
    elif countdown is not None:
        options["countdown"] = countdown
    if "eta" in options or "countdown" in options or task.app.conf.task_always_eager:
        task.apply_async(args=args, kwargs=kwargs, **options)  # delay queues / eager: Celery's way
    else:
        send_now(task, args, kwargs, options)


# --- the immediate message without `apply_async` ----------------------------------------------------
# Every trigger publishes one message that runs at once. Through `apply_async` → `send_task`, Celery
# resolves the same things on every call (the task's options from the configuration, the route, the
# result object) around kombu's publish. `send_now` resolves them once per task and then does what
# `send_task` does for a message without ETA: the same `create_task_message` and `send_task_message`
# (signals, `task-sent` events, retry policy, queue declaration, publisher confirm): less CPU per
# message, figures in docs/performance.md. tests/executions_app/test_dispatch.py compares both
# messages field by field.
_ROUTES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}


def _route(task: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what `create_task_message` takes from the task's options, the routed publish options): what
    `apply_async` + `send_task` compute per call, for a task whose routing does not depend on its
    arguments (ours: `task_routes` is not set, every message goes to the execution queue)."""
    cached = _ROUTES.get(task.name)
    if cached is None:
        app = task.app
        options = {k: v for k, v in task._get_exec_options().items() if v is not None}
        options.setdefault("ignore_result", task.ignore_result)
        message = {
            "time_limit": options.pop("time_limit", None),
            "soft_time_limit": options.pop("soft_time_limit", None),
            "expires": options.pop("expires", None),
            "ignore_result": options.pop("ignore_result", None),
        }
        if message["expires"] is not None:  # relative to each send: not something to cache
            raise ValueError(f"task {task.name} has `expires`: publish it with apply_async")
        cached = _ROUTES[task.name] = (message, app.amqp.router.route(options, task.name, None, None, task))
    return cached


def send_now(task: Any, args: list[Any], kwargs: dict[str, Any], options: dict[str, Any]) -> str:
    """Publishes `task(*args, **kwargs)` to run now (no ETA), as `task.apply_async` would; returns
    the task id. `options`: `argsrepr`, `kwargsrepr`, `headers` (merged into the message headers)."""
    app = task.app
    message_options, routed = _route(task)
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
        app.amqp.send_task_message(producer, task.name, message, **publish_options)
    return task_id
