"""Publishing execution messages to RabbitMQ (Celery), always after the database commit.

The broker carries only "start/continue execution X" messages (start, wake-up, retry); the
database row is the truth. Publishing after commit means a worker never sees an execution that does
not exist yet; a crash between commit and publish is repaired by the reconciler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def publish_execution(
    execution_id: str, *, request_id: str = "", eta: datetime | None = None, timer_id: int | None = None
) -> None:
    from engine.tasks import run_execution  # the task module needs Django; dispatch is imported early

    options: dict[str, Any] = {"headers": {"request_id": request_id}} if request_id else {}
    if eta is not None:
        options["eta"] = eta
    kwargs = {"timer_id": timer_id} if timer_id is not None else {}
    run_execution.apply_async(args=[str(execution_id)], kwargs=kwargs, **options)
