"""Publishing execution messages to RabbitMQ (Celery), always after the database commit.

The broker carries only "start/continue execution X" messages (start, wake-up, retry); the
database row is the truth. Publishing after commit means a worker never sees an execution that does
not exist yet; a crash between commit and publish is repaired by the reconciler.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

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


def publish_execution(
    execution_id: str, *, request_id: str = "", eta: datetime | None = None, timer_id: int | None = None
) -> None:
    from engine.tasks import run_execution  # the task module needs Django; dispatch is imported early

    args = [str(execution_id)]
    kwargs = {"timer_id": timer_id} if timer_id is not None else {}
    # The printable copies Celery puts in the message (events, Flower) made here: its generic
    # `saferepr` was a fifth of the publish's CPU on the webhook path.
    options: dict[str, Any] = {"argsrepr": repr(args), "kwargsrepr": repr(kwargs)}
    if request_id:
        options["headers"] = {"request_id": request_id}
    if eta is not None:
        options.update(broker_delay(eta))
    run_execution.apply_async(args=args, kwargs=kwargs, **options)
