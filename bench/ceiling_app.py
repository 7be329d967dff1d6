"""The ceiling: the same architecture and the work the specification requires, with no Django and
no engine (issue 20's restatement).

A bare WSGI intake (under the same gunicorn config) counts the webhook rate limits (one upsert of
the per-schema and the per-IP bucket into `api_throttle`, the statement ours runs), checks the
secret, inserts the execution + state rows in one transaction, logs one JSON line for the request,
answers 202 and then publishes the message (publisher confirms; after the answer is sent, from the
response's `close()`, as ours); a bare Celery worker (same durability settings: quorum queue with
DLX, acks_late, reject_on_worker_lost, prefetch 1) takes the advisory lock, checks the status, marks
it running, then writes the same 11 step rows, the checkpoint and the final status in one
transaction (the grouping the design allows for pure steps), and unlocks. It computes
`counter + 1` in plain Python, and logs what every implementation of the spec must log (§7): a
line when the execution starts, one per step, one when it ends — through the stdlib `logging`
module, JSON, with the fields ours has (`execution_id`, `schema_id`, `node_id`, `request_id`,
`seq`, `node_type`, `step_status`, `attempt`, `duration_ms`; the request's method, path, status,
sizes, duration, client address). What it leaves out is what this product adds on top: Django,
DRF, the engine's bookkeeping, expressions, metrics. Same database schema (a copy of the migrated
bench database), same broker, same machine.

`LOG_LEVEL=WARNING` turns its log lines off, `CEILING_THROTTLE_RATE=""` its rate limits (the
variants of `make bench` switch both sides alike).

    gunicorn bench.ceiling_app:wsgi -c config/gunicorn.py
    celery -A bench.ceiling_app worker -Q bench_ceiling_queue ...
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import sys
import threading
import time
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
THROTTLE_RATE = os.environ.get("CEILING_THROTTLE_RATE", "100000/s")
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


# --- logging: stdlib, one JSON object per line on stdout ---------------------------------------------
class _JsonLines(logging.Formatter):
    """`time`, `level`, `logger`, `message`, then every field given in `extra` (ours: config/logging.py)."""

    _reserved = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "taskName"}

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}  # fmt: skip
        line.update((k, v) for k, v in record.__dict__.items() if k not in self._reserved)
        return json.dumps(line, default=str)


# The logging HOWTO's "Optimization": no line carries the caller's file, thread or process (ours
# does the same, config/logging.py; under gunicorn that module is loaded for the ceiling too).
logging._srcfile = None  # type: ignore[attr-defined]
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False
_handler = logging.StreamHandler(sys.stdout)
_handler.setFormatter(_JsonLines())
logger = logging.getLogger("ceiling")
logger.addHandler(_handler)
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
logger.propagate = False

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
    began = time.monotonic()
    conn = _conn()
    key = _lock_key(execution_id)
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:  # type: ignore[index]
        return "busy"
    try:
        row = conn.execute(
            "SELECT e.status, e.trigger_payload, s.context, e.request_id FROM executions e "
            "JOIN execution_state s ON s.execution_id = e.id WHERE e.id = %s",
            [execution_id],
        ).fetchone()
        if row is None or row[0] in ("completed", "failed", "cancelled"):
            return "done"
        payload, context = row[1], dict(row[2] or {})
        context_fields = {"execution_id": execution_id, "schema_id": SCHEMA_ID, "request_id": row[3]}
        now = datetime.now(UTC)
        conn.execute(
            "UPDATE executions SET status='running', started_at=%s, lease_owner=%s WHERE id=%s AND status='pending'",
            [now, f"ceiling:{os.getpid()}", execution_id],
        )
        logger.info("execution started", extra={"trigger_type": "webhook", **context_fields})
        steps: list[tuple[Any, ...]] = []
        outputs: dict[str, Any] = {}
        previous: Any = payload

        def record(node_id: str, node_type: str, input_: Any, output: Any, started: float) -> None:
            t = datetime.now(UTC)
            seq = len(steps) + 1
            steps.append(
                (execution_id, seq, node_id, node_type, Jsonb(input_), Jsonb(output), "success", 1, t,
                 t + timedelta(microseconds=50))
            )  # fmt: skip
            outputs[node_id] = output
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            logger.info(
                "step %s %s (%s, attempt %d, %.1f ms)", node_id, "success", node_type, 1, duration_ms,
                extra={"seq": seq, "node_type": node_type, "step_status": "success", "attempt": 1,
                       "duration_ms": duration_ms, "node_id": node_id, **context_fields},
            )  # fmt: skip

        record("hook", "webhook_trigger", payload, payload, time.perf_counter())
        for i in range(1, 9):
            started = time.perf_counter()
            context["counter"] = int(context.get("counter", 0)) + 1
            output = {"counter": context["counter"]}
            record(f"inc{i}", "set", previous, output, started)
            previous = output
        started = time.perf_counter()
        ok = context["counter"] >= 8
        cond = {"result": ok, "value": ok}
        record("check", "condition", previous, cond, started)
        started = time.perf_counter()
        context["result"] = context["counter"]
        final = {"result": context["counter"]}
        record("done", "set", cond, final, started)
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
        logger.info(
            "execution %s", "completed",
            extra={"execution_status": "completed", "result_bytes": len(json.dumps(final)),
                   "walk_ms": round((time.monotonic() - began) * 1000, 1), **context_fields},
        )  # fmt: skip
        return "completed"
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [key])


# --- intake (WSGI) ----------------------------------------------------------------------------------
# The webhook's rate limits: both buckets (per schema, per client IP) counted in one upsert, the
# sliding-window approximation ours uses (api/throttling.py); a refused request would be a 429.
_UPSERT = """
INSERT INTO api_throttle (bucket, window_index, hits, previous_hits, expires_at)
VALUES (%s, %s, 1, 0, %s), (%s, %s, 1, 0, %s)
ON CONFLICT (bucket) DO UPDATE SET
    previous_hits = CASE WHEN api_throttle.window_index = EXCLUDED.window_index THEN api_throttle.previous_hits
                         WHEN api_throttle.window_index = EXCLUDED.window_index - 1 THEN api_throttle.hits
                         ELSE 0 END,
    hits = CASE WHEN api_throttle.window_index = EXCLUDED.window_index THEN api_throttle.hits + 1 ELSE 1 END,
    window_index = EXCLUDED.window_index,
    expires_at = EXCLUDED.expires_at
RETURNING bucket, hits, previous_hits
"""
_RATE = re.fullmatch(r"(\d+)/([smhd])", THROTTLE_RATE.strip())
_LIMIT, _DURATION = (
    (int(_RATE[1]), {"s": 1, "m": 60, "h": 3600, "d": 86400}[_RATE[2]]) if _RATE else (0, 0)
)  # fmt: skip


def _throttled(conn: psycopg.Connection[Any], remote_addr: str) -> bool:
    if not _LIMIT:
        return False
    now = time.time()
    window = int(now // _DURATION)
    expires = (window + 2) * _DURATION
    buckets = sorted([f"webhook:{SCHEMA_ID}", f"webhook_ip:{remote_addr}"])  # one lock order, as ours
    rows = conn.execute(_UPSERT, [buckets[0], window, expires, buckets[1], window, expires]).fetchall()
    weight = 1 - (now % _DURATION) / _DURATION
    return any(previous * weight + hits > _LIMIT for _, hits, previous in rows)


def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    started = time.perf_counter()
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    request_id = incoming if re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", incoming) else uuid.uuid4().hex

    def answer(code: str, body: dict[str, Any]) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(
            code,
            [("Content-Type", "application/json"), ("Content-Length", str(len(data))), ("X-Request-ID", request_id)],
        )
        status = int(code[:3])
        logger.info(
            "%s %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), status,
            extra={"method": environ.get("REQUEST_METHOD"), "path": environ.get("PATH_INFO"), "status": status,
                   "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                   "request_bytes": int(environ.get("CONTENT_LENGTH") or 0), "response_bytes": len(data),
                   "user_id": None, "remote_addr": environ.get("REMOTE_ADDR"), "request_id": request_id},
        )  # fmt: skip
        return [data]

    if environ.get("REQUEST_METHOD") != "POST":
        return answer("405 Method Not Allowed", {"detail": "POST"})
    conn = _conn()
    if _throttled(conn, environ.get("REMOTE_ADDR", "")):
        return answer("429 Too Many Requests", {"detail": "throttled"})
    if not hmac.compare_digest(environ.get("HTTP_X_SCHEMA_SECRET", "").encode(), SECRET.encode()):
        return answer("401 Unauthorized", {"detail": "secret"})
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except ValueError:
        return answer("400 Bad Request", {"detail": "json"})
    execution_id = str(uuid.uuid4())
    with conn.transaction():
        conn.execute(
            "INSERT INTO executions (id, schema_id, schema_version_id, status, trigger_type, trigger_payload,"
            " created_at, request_id, lease_owner) VALUES (%s, %s, %s, 'pending', 'webhook', %s, %s, %s, '')",
            [execution_id, SCHEMA_ID, VERSION_ID, Jsonb(payload), datetime.now(UTC), request_id],
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
