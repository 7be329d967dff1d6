"""The message contract with RabbitMQ: topology and task names (kombu objects only, no Django).

`schema_execution_queue` is a quorum queue bound to the topic exchange `schema_execution` with an
exact routing key (Celery's native delayed delivery needs quorum queues and a topic exchange). A
message that is rejected, or redelivered more than `x-delivery-limit` times (a poison message that
kills workers), is dead-lettered through the direct exchange `schema_execution_dlx` into the quorum
queue `schema_execution_dlq`, which no worker consumes: operators inspect and requeue it with
`manage.py dlq`.
"""

from __future__ import annotations

from kombu import Connection, Exchange, Queue

EXECUTION_QUEUE = "schema_execution_queue"
EXECUTION_EXCHANGE = "schema_execution"
EXECUTION_ROUTING_KEY = "schema_execution"
DLQ = "schema_execution_dlq"
DLX = "schema_execution_dlx"
DELIVERY_LIMIT = 3

# Registered task names. They are in every queued message and in beat's rows, so they keep the
# names they had when the tasks lived in `engine/tasks.py`; the code is `executions_app/tasks.py`.
TASK_RUN_EXECUTION = "engine.tasks.run_execution"
TASK_SCHEDULE_FIRE = "engine.tasks.schedule_fire"
TASK_RECONCILE = "engine.tasks.reconcile"
TASK_PRUNE_EXECUTIONS = "engine.tasks.prune_executions"

execution_exchange = Exchange(EXECUTION_EXCHANGE, type="topic", durable=True)
dead_letter_exchange = Exchange(DLX, type="direct", durable=True)

execution_queue = Queue(
    EXECUTION_QUEUE,
    exchange=execution_exchange,
    routing_key=EXECUTION_ROUTING_KEY,
    durable=True,
    queue_arguments={
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": DLX,
        "x-dead-letter-routing-key": DLQ,
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    },
)

dead_letter_queue = Queue(
    DLQ,
    exchange=dead_letter_exchange,
    routing_key=DLQ,
    durable=True,
    queue_arguments={"x-queue-type": "quorum"},
)


def declare_topology(connection: Connection) -> None:
    """Declare exchanges and both queues (idempotent); the DLQ must exist before anything dies."""
    channel = connection.default_channel
    for queue in (execution_queue, dead_letter_queue):
        queue.bind(channel).declare()
