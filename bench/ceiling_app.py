"""The ceiling: the same architecture with no Django and no engine.

A bare WSGI intake (under the same gunicorn config) inserts the execution + state rows in one
transaction, answers 202 and then publishes the message (publisher confirms; after the answer is
sent, from the response's `close()`, as ours); a bare Celery
worker (same durability settings: quorum queue with DLX, acks_late, reject_on_worker_lost, prefetch
1) takes the advisory lock, checks the status, marks it running, then writes the same 11 step rows,
the checkpoint and the final status in one transaction (the grouping the design allows for pure
steps), and unlocks. It computes `counter + 1` in plain Python and logs nothing per step. Same
database schema (a copy of the migrated bench database), same broker, same machine.

    gunicorn bench.ceiling_app:wsgi -c config/gunicorn.py
    celery -A bench.ceiling_app worker -Q bench_ceiling_queue ...
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from celery import Celery
from kombu import Exchange, Queue
from psycopg.types.json import Jsonb

DATABASE_URL = os.environ.get("CEILING_DATABASE_URL", "")
SCHEMA_ID = os.environ.get("CEILING_SCHEMA_ID", "")
VERSION_ID = int(os.environ.get("CEILING_VERSION_ID", "0") or 0)
SECRET = os.environ.get("CEILING_SECRET", "")
QUEUE = "bench_ceiling_queue"

exchange = Exchange("bench_ceiling", type="topic", durable=True)
queue = Queue(
    QUEUE,
    exchange=exchange,
    routing_key=QUEUE,
    durable=True,
    queue_arguments={
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "bench_ceiling_dlx",
        "x-dead-letter-routing-key": "bench_ceiling_dlq",
        "x-delivery-limit": 3,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    },
)

app = Celery("ceiling", broker=os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"))
app.conf.update(
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
    task_queues=(queue,),
    task_default_queue=QUEUE,
    task_default_exchange="bench_ceiling",
    task_default_exchange_type="topic",
    task_default_routing_key=QUEUE,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_acks_on_failure_or_timeout=False,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    task_ignore_result=True,
    result_backend=None,
    worker_hijack_root_logger=False,
)

_local = threading.local()


def _conn() -> psycopg.Connection[Any]:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed or getattr(_local, "pid", None) != os.getpid():
        conn = psycopg.connect(DATABASE_URL, autocommit=True)
        _local.conn, _local.pid = conn, os.getpid()
    return conn


def _lock_key(execution_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(execution_id.encode(), digest_size=8).digest(), "big", signed=True)


# --- worker -----------------------------------------------------------------------------------------
@app.task(name="ceiling.run", acks_late=True, reject_on_worker_lost=True)
def run(execution_id: str) -> str:
    conn = _conn()
    key = _lock_key(execution_id)
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:  # type: ignore[index]
        return "busy"
    try:
        row = conn.execute(
            "SELECT e.status, e.trigger_payload, s.context FROM executions e "
            "JOIN execution_state s ON s.execution_id = e.id WHERE e.id = %s",
            [execution_id],
        ).fetchone()
        if row is None or row[0] in ("completed", "failed", "cancelled"):
            return "done"
        payload, context = row[1], dict(row[2] or {})
        now = datetime.now(UTC)
        conn.execute(
            "UPDATE executions SET status='running', started_at=%s, lease_owner=%s WHERE id=%s AND status='pending'",
            [now, f"ceiling:{os.getpid()}", execution_id],
        )
        steps: list[tuple[Any, ...]] = []
        outputs: dict[str, Any] = {}
        previous: Any = payload

        def record(node_id: str, node_type: str, input_: Any, output: Any) -> None:
            t = datetime.now(UTC)
            steps.append(
                (execution_id, len(steps) + 1, node_id, node_type, Jsonb(input_), Jsonb(output), "success", 1, t,
                 t + timedelta(microseconds=50))
            )  # fmt: skip
            outputs[node_id] = output

        record("hook", "webhook_trigger", payload, payload)
        for i in range(1, 9):
            context["counter"] = int(context.get("counter", 0)) + 1
            output = {"counter": context["counter"]}
            record(f"inc{i}", "set", previous, output)
            previous = output
        ok = context["counter"] >= 8
        cond = {"result": ok, "value": ok}
        record("check", "condition", previous, cond)
        context["result"] = context["counter"]
        final = {"result": context["counter"]}
        record("done", "set", cond, final)
        checkpoint = {
            "v": 1, "vars": context, "outputs": outputs, "queue": [], "scheduled": sorted(outputs),
            "seq": len(steps), "last_output": final, "result": None, "waiting": None, "failed": None,
        }  # fmt: skip
        with conn.transaction():
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO execution_steps (execution_id, seq, node_id, node_type, input, output, status,"
                    " attempt, started_at, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    steps,
                )
            conn.execute(
                "UPDATE execution_state SET checkpoint=%s, context=%s, current_node_id=NULL, wait_kind='',"
                " resume_at=NULL, updated_at=now() WHERE execution_id=%s",
                [Jsonb(checkpoint), Jsonb(context), execution_id],
            )
            conn.execute(
                "UPDATE executions SET status='completed', finished_at=%s, lease_owner='', lease_expires_at=NULL,"
                " result=%s WHERE id=%s AND status NOT IN ('completed','failed','cancelled')",
                [datetime.now(UTC), Jsonb(final), execution_id],
            )
        return "completed"
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [key])


# --- intake (WSGI) ----------------------------------------------------------------------------------
def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    def answer(code: str, body: dict[str, Any]) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(code, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    if environ.get("REQUEST_METHOD") != "POST":
        return answer("405 Method Not Allowed", {"detail": "POST"})
    if not hmac.compare_digest(environ.get("HTTP_X_SCHEMA_SECRET", "").encode(), SECRET.encode()):
        return answer("401 Unauthorized", {"detail": "secret"})
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except ValueError:
        return answer("400 Bad Request", {"detail": "json"})
    execution_id = str(uuid.uuid4())
    conn = _conn()
    with conn.transaction():
        conn.execute(
            "INSERT INTO executions (id, schema_id, schema_version_id, status, trigger_type, trigger_payload,"
            " created_at, request_id, lease_owner) VALUES (%s, %s, %s, 'pending', 'webhook', %s, %s, %s, '')",
            [execution_id, SCHEMA_ID, VERSION_ID, Jsonb(payload), datetime.now(UTC), uuid.uuid4().hex],
        )
        conn.execute(
            "INSERT INTO execution_state (execution_id, context, checkpoint, updated_at, wait_kind)"
            " VALUES (%s, %s, '{}', now(), '')",
            [execution_id, Jsonb({"counter": 0})],
        )
    return _PublishOnClose(answer("202 Accepted", {"id": execution_id, "status": "pending"}), execution_id)


class _PublishOnClose(list[bytes]):
    """The answer's body; the WSGI server calls `close()` once it is sent: then the message goes out."""

    def __init__(self, body: list[bytes], execution_id: str) -> None:
        super().__init__(body)
        self.execution_id = execution_id

    def close(self) -> None:
        run.apply_async(args=[self.execution_id])  # after commit and after the answer
