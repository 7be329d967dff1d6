"""Settings of the worker processes that `tests/system` starts (tests only, never deployed).

The local settings with `DATABASE_URL` / `RABBITMQ_URL` from the environment (the test database
and a throw-away RabbitMQ vhost), plus test-only hooks and a short infrastructure-retry budget.
"""

from .local import *  # noqa: F403
from .local import env

CELERY_TASK_ALWAYS_EAGER = False
# Test-only signal handlers (a "poison" message that kills the worker process); each handler is
# also guarded by SCHEMA_SYSTEM_TEST_HOOKS=1 in the environment.
CELERY_IMPORTS = ("tests.system.worker_hooks",)  # the tasks themselves are autodiscovered
# Infrastructure retries of `execution_run_task` before dead-lettering (production: 8).
SCHEMA_INFRA_MAX_RETRIES = env.int("SCHEMA_INFRA_MAX_RETRIES", default=8)
# The production pool: the tests kill pool processes and install hooks in each (`make run`'s
# local settings use threads).
CELERY_WORKER_POOL = "prefork"
# Notice a pool process that died (kill -9, os._exit) after 1 s instead of Celery's 10 s default.
CELERY_WORKER_LOST_WAIT = 1.0
