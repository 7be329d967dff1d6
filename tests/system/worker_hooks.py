"""Test-only hooks of the system tests' workers (`config.settings.system`) and API processes (gunicorn
`--config python:tests.system.worker_hooks`, tests/system/test_outbox.py).

Active only with SCHEMA_SYSTEM_TEST_HOOKS=1 in the worker's environment:

* A "poison" execution (trigger payload `{"poison": true}`) kills the pool process that receives it,
  like a segfaulting C extension or the OOM killer would: RabbitMQ redelivers the message until its
  delivery limit and then dead-letters it.
* A crash point: when a `log` node logs a message containing `CRASH_POINT`, the pool process dies
  on the spot (once: the marker file named by SCHEMA_SYSTEST_CRASH_MARKER is created first), i.e. a
  crash in the middle of a walk, between two checkpoints.
* An API kill point (`SCHEMA_SYSTEST_API_KILLS=<dir>:<n>`, given to gunicorn only): the process
  kills itself (SIGKILL) just before it publishes a new execution's run message — after the commit
  and, for a webhook, after its 202 — at every 6th publish, until <dir> holds n kills (one file
  each: named by the execution, holding the time of the kill).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from celery.signals import before_task_publish, task_prerun, worker_process_init

POISON_EXIT_CODE = 77
CRASH_EXIT_CODE = 78
CRASH_POINT = "SYSTEST-CRASH-POINT"


def _enabled() -> bool:
    return os.environ.get("SCHEMA_SYSTEM_TEST_HOOKS") == "1"


@task_prerun.connect
def _poison(task: Any = None, args: Any = None, **_: Any) -> None:
    if not _enabled() or task is None or task.name != "engine.tasks.run_execution":
        return
    from executions_app.models import Execution

    payload = Execution.objects.filter(pk=args[0]).values_list("trigger_payload", flat=True).first()
    if isinstance(payload, dict) and payload.get("poison"):
        os._exit(POISON_EXIT_CODE)


class _CrashPoint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        marker = os.environ.get("SCHEMA_SYSTEST_CRASH_MARKER")
        if marker and CRASH_POINT in record.getMessage():
            try:
                Path(marker).touch(exist_ok=False)
            except FileExistsError:
                return True  # crashed once already
            os._exit(CRASH_EXIT_CODE)
        return True


@worker_process_init.connect
def _install_crash_point(**_: Any) -> None:
    if _enabled():
        logging.getLogger("schema.nodes.log").addFilter(_CrashPoint())


_PUBLISHES = [0]


@before_task_publish.connect
def _api_kill_point(body: Any = None, routing_key: str = "", **_: Any) -> None:
    spec = os.environ.get("SCHEMA_SYSTEST_API_KILLS")
    if not _enabled() or not spec or routing_key != "schema_execution":  # starts only, not wake-ups
        return
    _PUBLISHES[0] += 1
    directory, _, budget = spec.rpartition(":")
    if _PUBLISHES[0] % 6 or len(os.listdir(directory)) >= int(budget):
        return
    Path(directory, str(body[0][0])).write_text(repr(time.time()))
    os.kill(os.getpid(), signal.SIGKILL)
