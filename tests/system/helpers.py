"""What the system tests share: the worker process (its command line is written here once), waiting,
the broker's queues, definitions, starting executions and the "nothing lost, nothing run twice"
assertions. The fixtures that set up the environment are in conftest.py."""

from __future__ import annotations

import atexit
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db.models import Count

from config.queues import EXECUTION_QUEUE, MS_DELAY_BITS, ms_delay_level_name
from executions_app.models import Execution, ExecutionStep, ExecutionTimer
from executions_app.services import execution_create
from schemas_app.models import Schema
from tests.builders import edge, node
from tests.conftest import requires_postgres, requires_rabbitmq
from tests.factories import create_schema
from tests.helpers.http_server import LocalServer

BASE_DIR = Path(__file__).resolve().parents[2]

_STARTED: list[subprocess.Popen[bytes]] = []


@atexit.register
def _kill_leftover_workers() -> None:
    """If pytest itself dies, no worker started by these tests outlives it."""
    for proc in _STARTED:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


# --- waiting ----------------------------------------------------------------------------------------
def wait_until(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last value: {last!r})")


# --- the broker ------------------------------------------------------------------------------------
def declare_broker_topology(url: str) -> None:
    """What a worker declares at start: the execution queue + DLQ and Celery's delayed delivery."""
    from kombu import Connection
    from kombu.transport.native_delayed_delivery import (
        bind_queue_to_native_delayed_delivery_exchange,
        declare_native_delayed_delivery_exchanges_and_queues,
    )

    from config.queues import RUN_QUEUES, declare_topology

    with Connection(url, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=30, interval_start=0.5, interval_step=0.5, interval_max=1)
        declare_topology(connection)
        declare_native_delayed_delivery_exchanges_and_queues(connection, "quorum")
        for queue in RUN_QUEUES:
            bind_queue_to_native_delayed_delivery_exchange(connection, queue)


# Celery's native delayed delivery (whole seconds) and our millisecond levels after it.
DELAY_QUEUES = tuple(f"celery_delayed_{level}" for level in range(28)) + tuple(
    ms_delay_level_name(level) for level in range(MS_DELAY_BITS)
)


def queue_counts(url: str, queue: str) -> tuple[int, int]:
    """(ready messages, consumers) of a queue."""
    from kombu import Connection

    with Connection(url, connect_timeout=5) as connection:
        _, messages, consumers = connection.default_channel.queue_declare(queue=queue, passive=True)
        return int(messages), int(consumers)


def purge_queue(url: str, *queues: str) -> None:
    from kombu import Connection

    with Connection(url, connect_timeout=5) as connection:
        for queue in queues:
            connection.default_channel.queue_purge(queue)


# --- the pytest process publishes to the vhost ------------------------------------------------------
def use_broker(url: str, *, eager: bool) -> None:
    """Point the Celery app of this process at `url` (drop pooled connections) and set eagerness."""
    from kombu import pools

    from config.celery_app import app

    pools.reset()  # close every pooled connection and forget the pools (keyed by URL)
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    app.conf.broker_url = url
    app.conf.task_always_eager = eager
    settings.CELERY_BROKER_URL = url
    settings.CELERY_TASK_ALWAYS_EAGER = eager


def reset_publisher() -> None:
    """Forget pooled broker connections (after a broker restart)."""
    from config.celery_app import app

    use_broker(app.conf.broker_url, eager=False)


# --- worker processes -------------------------------------------------------------------------------
def worker_command(name: str, concurrency: int) -> list[str]:
    """`celery worker` as production starts it (compose/production/django/celery/worker/start), named
    `name@host`, without the cluster chatter a test does not need."""
    return [
        sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-Q", EXECUTION_QUEUE,
        "-n", f"{name}@%h", "-c", str(concurrency),
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
    ]  # fmt: skip


class Worker:
    """One `celery worker` process group, logging to a file; stopped or killed by the tests."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, concurrency: int) -> None:
        self.name = name
        self.env = env
        self.concurrency = concurrency
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                worker_command(self.name, self.concurrency),
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 reaches the pool processes too
            )
        _STARTED.append(self.proc)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 60) -> Worker:
        def ready() -> bool:
            if not self.alive:
                pytest.fail(f"worker {self.name} exited during start-up:\n{self.log()[-3000:]}")
            return f"{self.name}@" in self.log() and " ready." in self.log()

        wait_until(ready, timeout=timeout, interval=0.2, what=f"worker {self.name} to be ready")
        return self

    def kill9(self) -> None:
        """SIGKILL the whole worker (main process and pool processes), like a lost node."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30) -> int | None:
        """Warm shutdown (SIGTERM: finish the running tasks, then exit); SIGKILL after `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.dump_stacks(f"warm shutdown still running after {timeout:.0f}s")
            self.kill9()
            return None
        finally:
            self._reap_group()

    def dump_stacks(self, why: str) -> None:
        """Appends the Python stacks of the worker's processes to its log (a hang is then diagnosable)."""
        if self.proc is None:
            return
        pids = [self.proc.pid]
        children = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True, check=False)
        pids += [int(p) for p in children.stdout.split() if int(p) != self.proc.pid]
        with open(self.log_path, "a") as log:
            log.write(f"\n===== {why}: stacks of {pids} =====\n")
            for pid in pids:
                try:
                    dump = subprocess.run(
                        [str(Path(sys.executable).with_name("py-spy")), "dump", "--pid", str(pid)],
                        capture_output=True,
                        text=True,
                        timeout=30,
                        check=False,
                    )
                    log.write(dump.stdout + dump.stderr)
                except (OSError, subprocess.TimeoutExpired) as exc:
                    log.write(f"py-spy dump {pid}: {exc}\n")

    def _reap_group(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # any pool process left behind
        except (ProcessLookupError, PermissionError):
            pass


class Beat(Worker):
    """One `celery beat` process with the project's scheduler (as compose/production starts it): it
    sends the periodic tasks (the reconciler) to the workers, and runs the outbox relay."""

    def start(self) -> Beat:
        command = [
            sys.executable, "-m", "celery", "-A", "config.celery_app", "beat", "-l", "INFO",
            "--scheduler", "config.beat_scheduler:FencedDatabaseScheduler",
            "--pidfile=", "-s", str(self.log_path.with_suffix(".schedule")),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _STARTED.append(self.proc)
        return self


# --- a real API process --------------------------------------------------------------------------
class LiveApi:
    """A real API process (tests/helpers/live_api.py `gunicorn_servers`) and the calls a user makes to it."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def action(self, schema: Any, name: str, method: str = "POST") -> dict[str, Any]:
        status, body = self.call(method, f"/api/schemas/{schema.id}/{name}/", headers={"Authorization": self.auth})
        assert status == 200, (name, status, body)
        return dict(body)

    @property
    def auth(self) -> str:
        return f"Token {self.token}"

    def hook(self, schema: Any, n: int) -> tuple[int, dict[str, Any]]:
        status, body = self.call(
            "POST", f"/api/hooks/{schema.id}/", {"n": n}, {"X-Schema-Secret": schema.webhook_secret}
        )
        return status, dict(body)


# --- definitions and executions ---------------------------------------------------------------------
SYSTEM_MARKS = [
    pytest.mark.system,
    requires_postgres,
    requires_rabbitmq,
    pytest.mark.django_db(transaction=True),
]


def delay_definition(seconds: float | str = 2, *, then: int = 1) -> dict[str, Any]:
    """trigger → set → delay(seconds) → `then` log nodes → end."""
    nodes = [
        node("start", "manual_trigger"),
        node("prepare", "set", {"assignments": [{"name": "order", "value": "{{ trigger.n }}"}]}),
        node("wait", "delay", {"duration_seconds": seconds}),
    ]
    edges = [edge("start", "prepare"), edge("prepare", "wait")]
    previous = "wait"
    for index in range(then):
        nodes.append(node(f"after{index}", "log", {"level": "info", "message": "order {{ vars.order }}"}))
        edges.append(edge(previous, f"after{index}"))
        previous = f"after{index}"
    nodes.append(node("done", "end", {"output": "{{ vars.order }}"}))
    edges.append(edge(previous, "done"))
    return {"nodes": nodes, "edges": edges, "variables": {}}


def quick_definition() -> dict[str, Any]:
    """trigger → set → log → end (no pause)."""
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("prepare", "set", {"assignments": [{"name": "order", "value": "{{ trigger.n }}"}]}),
            node("note", "log", {"level": "info", "message": "order {{ vars.order }}"}),
            node("done", "end", {"output": "{{ vars.order }}"}),
        ],
        "edges": [edge("start", "prepare"), edge("prepare", "note"), edge("note", "done")],
        "variables": {},
    }


def http_definition(url: str) -> dict[str, Any]:
    """trigger → set → http_request(url, slow, side effect) → log → end."""
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("prepare", "set", {"assignments": [{"name": "order", "value": "{{ trigger.n }}"}]}),
            node(
                "charge",
                "http_request",
                {
                    "method": "POST",
                    "url": url,
                    "body": {"order": "{{ vars.order }}"},
                    "timeout_seconds": 30,
                    "idempotency_header": "Idempotency-Key",
                },
            ),
            node("note", "log", {"level": "info", "message": "charged {{ nodes.charge.output.body.ok }}"}),
            node("done", "end", {"output": "{{ vars.order }}"}),
        ],
        "edges": [edge("start", "prepare"), edge("prepare", "charge"), edge("charge", "note"), edge("note", "done")],
        "variables": {},
    }


def idempotency_keys(server: LocalServer) -> list[str]:
    """The `Idempotency-Key` of each request the server received, in order."""
    return [r["headers"].get("Idempotency-Key", "") for r in server.requests]


def make_schema(definition: dict[str, Any], name: str = "system") -> Schema:
    return create_schema(definition=definition, name=name)


def start(schema: Schema, count: int = 1, payload: dict[str, Any] | None = None) -> list[str]:
    """Create `count` executions (each published after its commit, as the API does)."""
    ids = []
    for n in range(count):
        execution, _ = execution_create(schema=schema, trigger_type="manual", payload={"n": n, **(payload or {})})
        ids.append(str(execution.id))
    return ids


def start_each(schema: Schema, payloads: list[dict[str, Any]]) -> list[str]:
    """One execution per payload (each published after its commit)."""
    ids = []
    for payload in payloads:
        execution, _ = execution_create(schema=schema, trigger_type="manual", payload=payload)
        ids.append(str(execution.id))
    return ids


def statuses(ids: Iterable[str]) -> dict[str, int]:
    rows = Execution.objects.filter(pk__in=list(ids)).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def all_in(ids: list[str], *wanted: str) -> bool:
    return Execution.objects.filter(pk__in=ids, status__in=wanted).count() == len(ids)


def wait_all(ids: list[str], *wanted: str, timeout: float, what: str = "the executions") -> None:
    """Wait until every execution has one of the `wanted` statuses; on timeout, say where they are."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all_in(ids, *wanted):
            return
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} to be {'/'.join(wanted)}: {statuses(ids)}")


def assert_nothing_twice(ids: list[str], *, expected_nodes: list[str] | None = None) -> None:
    """No step recorded twice: `(execution_id, seq)` unique and gap-free, and no node with two success
    steps (for the same attempt, or at all: each node runs at most once per execution)."""
    steps = ExecutionStep.objects.filter(execution_id__in=ids)
    dup_seq = list(steps.values("execution_id", "seq").annotate(n=Count("id")).filter(n__gt=1))
    assert dup_seq == [], f"(execution_id, seq) recorded twice: {dup_seq[:5]}"
    success = steps.filter(status="success")
    dup_attempt = list(success.values("execution_id", "node_id", "attempt").annotate(n=Count("id")).filter(n__gt=1))
    assert dup_attempt == [], f"a node has two success steps for the same attempt: {dup_attempt[:5]}"
    dup_node = list(success.values("execution_id", "node_id").annotate(n=Count("id")).filter(n__gt=1))
    assert dup_node == [], f"a node succeeded twice in one execution: {dup_node[:5]}"
    for execution_id in ids:
        seqs = list(steps.filter(execution_id=execution_id).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1)), f"steps of {execution_id} have gaps: {seqs}"
        if expected_nodes is not None:
            nodes = list(success.filter(execution_id=execution_id).order_by("seq").values_list("node_id", flat=True))
            assert nodes == expected_nodes, f"{execution_id}: success steps {nodes} != {expected_nodes}"


def lateness_report(ids: list[str]) -> dict[str, float]:
    values = sorted(
        ExecutionTimer.objects.filter(execution_id__in=ids, lateness_ms__isnull=False).values_list(
            "lateness_ms", flat=True
        )
    )
    if not values:
        return {"n": 0}

    def pct(p: float) -> float:
        return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]

    return {
        "n": len(values),
        "p50": pct(50),
        "p99": pct(99),
        "max": values[-1],
        "mean": statistics.fmean(values),
    }
