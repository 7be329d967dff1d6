"""Test-only worker hooks, imported only by `config.settings.system` (the system tests' workers).

A "poison" execution (trigger payload `{"poison": true}`) kills the pool process that receives it,
like a segfaulting C extension or the OOM killer would: RabbitMQ redelivers the message until its
delivery limit and then dead-letters it. Active only with SCHEMA_SYSTEM_TEST_HOOKS=1.
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import task_prerun

POISON_EXIT_CODE = 77


@task_prerun.connect
def _poison(task: Any = None, args: Any = None, **_: Any) -> None:
    if os.environ.get("SCHEMA_SYSTEM_TEST_HOOKS") != "1" or task is None or task.name != "engine.tasks.run_execution":
        return
    from executions_app.models import Execution

    payload = Execution.objects.filter(pk=args[0]).values_list("trigger_payload", flat=True).first()
    if isinstance(payload, dict) and payload.get("poison"):
        os._exit(POISON_EXIT_CODE)
