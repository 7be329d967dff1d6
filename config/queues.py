"""The message contract with RabbitMQ: topology and task names (kombu objects only, no Django).

`schema_execution_queue` is a quorum queue bound to the topic exchange `schema_execution` with an
exact routing key (Celery's native delayed delivery needs quorum queues and a topic exchange). A
message that is rejected, or redelivered more than `x-delivery-limit` times (a poison message that
kills workers), is dead-lettered through the direct exchange `schema_execution_dlx` into the quorum
queue `schema_execution_dlq`, which no worker consumes: operators inspect and requeue it with
`manage.py dlq`.

Three queues carry the run task, all consumed by every worker: `schema_execution_queue` takes the
start of new executions, `schema_execution_priority_queue` the start of high-priority ones (for the
same reason as the next: not behind a backlog of starts), `schema_execution_wakeup_queue` everything
that continues one already started (a due timer, a resume, a retry, a walk's continuation, the
reconciler's repairs). A burst of starts then waits in its own queue while a due wake-up is taken at
the next free worker slot instead of behind the whole backlog. (RabbitMQ priorities cannot do this
here: a quorum queue refuses `x-max-priority` (PRECONDITION_FAILED) and ignores a message's priority
on RabbitMQ 3.x; a classic priority queue has no delivery limit. See docs/performance.md.)

Delayed messages (timers, back-off) wait in the broker, never in a worker's memory, with millisecond
precision: the whole seconds in Celery's native delayed-delivery ladder (`celery_delayed_27..0`,
quorum queues whose message TTL is 2^n s), then the milliseconds in ours (`schema_delay_512ms` ..
`schema_delay_1ms`, TTL 2^n ms), then into the destination queue. The routing key carries the bits:
28 for the seconds, 10 for the milliseconds, the destination's routing key, and `DELAY_SUFFIX` so
that Celery's own delivery binding (`#.<routing key>`) does not match it before the milliseconds.
"""

from __future__ import annotations

from typing import Any

from kombu import Connection, Exchange, Queue

EXECUTION_QUEUE = "schema_execution_queue"
EXECUTION_EXCHANGE = "schema_execution"
EXECUTION_ROUTING_KEY = "schema_execution"
DLQ = "schema_execution_dlq"
DLX = "schema_execution_dlx"
WAKE_UP_QUEUE = "schema_execution_wakeup_queue"
WAKE_UP_ROUTING_KEY = "schema_execution_wakeup"
PRIORITY_QUEUE = "schema_execution_priority_queue"
PRIORITY_ROUTING_KEY = "schema_execution_priority"
DELIVERY_LIMIT = 3

# Celery's native delayed delivery (kombu.transport.native_delayed_delivery): the entry exchange of
# its ladder, the exchange its last level delivers to, and the number of seconds bits.
CELERY_DELAY_ENTRY_EXCHANGE = "celery_delayed_27"
CELERY_DELAY_DELIVERY_EXCHANGE = "celery_delayed_delivery"
CELERY_DELAY_BITS = 28
# Our millisecond ladder after it: levels 9..0 hold a message 2^level ms each (512 ms .. 1 ms).
MS_DELAY_BITS = 10
DELAY_SUFFIX = "ms_delay"
MAX_DELAY_SECONDS = 2**CELERY_DELAY_BITS - 1

# Registered task names. They are in every queued message and in beat's rows, so they keep the
# names they had when the tasks lived in `engine/tasks.py`; the code is `executions_app/tasks.py`.
TASK_RUN_EXECUTION = "engine.tasks.run_execution"
TASK_SCHEDULE_FIRE = "engine.tasks.schedule_fire"
TASK_RECONCILE = "engine.tasks.reconcile"
TASK_PRUNE_EXECUTIONS = "engine.tasks.prune_executions"

execution_exchange = Exchange(EXECUTION_EXCHANGE, type="topic", durable=True)
dead_letter_exchange = Exchange(DLX, type="direct", durable=True)

_RUN_QUEUE_ARGUMENTS: dict[str, Any] = {
    "x-queue-type": "quorum",
    "x-dead-letter-exchange": DLX,
    "x-dead-letter-routing-key": DLQ,
    "x-delivery-limit": DELIVERY_LIMIT,
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}

execution_queue = Queue(
    EXECUTION_QUEUE,
    exchange=execution_exchange,
    routing_key=EXECUTION_ROUTING_KEY,
    durable=True,
    queue_arguments=dict(_RUN_QUEUE_ARGUMENTS),
)

wake_up_queue = Queue(
    WAKE_UP_QUEUE,
    exchange=execution_exchange,
    routing_key=WAKE_UP_ROUTING_KEY,
    durable=True,
    queue_arguments=dict(_RUN_QUEUE_ARGUMENTS),
)

# The start of a high-priority execution (`settings.priority` or the call's, from HIGH_PRIORITY in
# engine/policies.py): its own queue, as the wake-ups, so it is not behind a backlog of other starts.
priority_queue = Queue(
    PRIORITY_QUEUE,
    exchange=execution_exchange,
    routing_key=PRIORITY_ROUTING_KEY,
    durable=True,
    queue_arguments=dict(_RUN_QUEUE_ARGUMENTS),
)

RUN_QUEUES = (wake_up_queue, priority_queue, execution_queue)

dead_letter_queue = Queue(
    DLQ,
    exchange=dead_letter_exchange,
    routing_key=DLQ,
    durable=True,
    queue_arguments={"x-queue-type": "quorum"},
)


def ms_delay_level_name(level: int) -> str:
    return f"schema_delay_{2**level}ms"


def delayed_routing_key(delay_ms: int, routing_key: str) -> str:
    """The routing key that, published to `CELERY_DELAY_ENTRY_EXCHANGE`, delivers to the queue bound
    with `routing_key` after `delay_ms` milliseconds (longer than Celery's ladder: its maximum; the
    worker sends a message that arrives before its timer is due back to the broker)."""
    seconds, milliseconds = divmod(max(0, delay_ms), 1000)
    bits = f"{min(seconds, MAX_DELAY_SECONDS):0{CELERY_DELAY_BITS}b}{milliseconds:0{MS_DELAY_BITS}b}"
    return ".".join(bits) + f".{routing_key}.{DELAY_SUFFIX}"


def _declare_ms_delay_ladder(channel: Any) -> None:
    """Levels 9..0 as in Celery's ladder: level n's exchange routes a message whose bit n is 1 into
    its queue (held 2^n ms, then dead-lettered to the next level) and one whose bit is 0 straight to
    the next level; after level 0 the message reaches the execution exchange."""
    words_before = CELERY_DELAY_BITS
    execution_exchange.bind(channel).declare()
    for level in range(MS_DELAY_BITS):  # each level's exchange before the binding that leads to it
        Exchange(ms_delay_level_name(level), type="topic", durable=True).bind(channel).declare()
    for level in range(MS_DELAY_BITS - 1, -1, -1):
        name = ms_delay_level_name(level)
        following = ms_delay_level_name(level - 1) if level else EXECUTION_EXCHANGE
        exchange = Exchange(name, type="topic", durable=True).bind(channel)
        skip = "*." * (words_before + MS_DELAY_BITS - 1 - level)
        queue = Queue(
            name,
            exchange=exchange,
            routing_key=f"{skip}1.#",
            durable=True,
            queue_arguments={
                "x-queue-type": "quorum",
                "x-message-ttl": 2**level,
                "x-dead-letter-exchange": following,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        ).bind(channel)
        queue.declare()
        Exchange(following, type="topic", durable=True).bind(channel).bind_to(name, routing_key=f"{skip}0.#")
    entry = Exchange(CELERY_DELAY_DELIVERY_EXCHANGE, type="topic", durable=True).bind(channel)
    entry.declare()
    top = Exchange(ms_delay_level_name(MS_DELAY_BITS - 1), type="topic", durable=True).bind(channel)
    top.bind_to(entry, routing_key=f"#.{DELAY_SUFFIX}")


def declare_topology(connection: Connection) -> None:
    """Declare exchanges, queues and bindings (idempotent); the DLQ must exist before anything dies.

    Only adds: an existing queue is never redeclared with other arguments (RabbitMQ refuses that with
    PRECONDITION_FAILED), so a running deployment upgrades by starting the new processes."""
    channel = connection.default_channel
    for queue in (*RUN_QUEUES, dead_letter_queue):
        queue.bind(channel).declare()
    _declare_ms_delay_ladder(channel)
    for queue in RUN_QUEUES:  # the end of the millisecond ladder
        queue.bind(channel).bind_to(EXECUTION_EXCHANGE, routing_key=f"#.{queue.routing_key}.{DELAY_SUFFIX}")
