"""Publishing execution messages to RabbitMQ (Celery), always after the database commit.

The broker carries only "start/continue execution X" messages (start, wake-up, retry); the
database row is the truth. Publishing after commit means a worker never sees an execution that does
not exist yet; a crash between commit and publish is repaired by the reconciler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import current_app

RUN_EXECUTION_TASK = "engine.tasks.run_execution"


def publish_execution(execution_id: str, *, request_id: str = "", eta: datetime | None = None) -> None:
    options: dict[str, Any] = {"headers": {"request_id": request_id}} if request_id else {}
    if eta is not None:
        options["eta"] = eta
    current_app.send_task(RUN_EXECUTION_TASK, args=[str(execution_id)], **options)
