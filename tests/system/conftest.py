"""System tests: real PostgreSQL, real RabbitMQ and real `celery worker` processes.

Isolation: the tests use their own RabbitMQ vhost (`schema_test_<pid>`, created at session start and
deleted at the end) so that workers of other people on the machine (vhosts `/`, `fe_e2e`, ...) never
see these messages, and the test's own publishing (the Celery app in the pytest process) is pointed
at that vhost and switched from eager to real publishing. Worker processes run with
`config.settings.system` against the pytest test database (`test_schema`): rows are committed by
`django_db(transaction=True)` tests so the workers see them.

Services are driven with `rabbitmqctl` and `pg_ctlcluster` when they run on this machine, or through
`docker` when they run in containers (the CI service containers).
"""

from __future__ import annotations

import atexit
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parents[2]
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CMD_TIMEOUT = 60
VHOST_PREFIX = "schema_test_"
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- services: RabbitMQ and PostgreSQL -------------------------------------------------------------
def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=CMD_TIMEOUT)


def _docker_container(port: int) -> str | None:
    if not shutil.which("docker"):
        return None
    out = _run(["docker", "ps", "-q", "--filter", f"publish={port}"])
    ids = out.stdout.split()
    return ids[0] if out.returncode == 0 and ids else None


def _unavailable(reason: str) -> None:
    if CI:
        pytest.fail(f"{reason} (CI=true: system tests must not be skipped)")
    pytest.skip(reason)


class Services:
    """Runs rabbitmqctl / restarts the services, locally or in the docker containers."""

    def __init__(self) -> None:
        amqp = urlsplit(settings.RABBITMQ_URL)
        self.amqp_port = amqp.port or 5672
        self.pg_port = int(settings.DATABASES["default"].get("PORT") or 5432)
        if shutil.which("rabbitmqctl"):
            self.rabbit_prefix: list[str] | None = ["rabbitmqctl"]
        else:
            container = _docker_container(self.amqp_port)
            self.rabbit_prefix = ["docker", "exec", container, "rabbitmqctl"] if container else None

    def rabbitmqctl(self, *args: str, check: bool = True) -> str:
        if self.rabbit_prefix is None:
            _unavailable("rabbitmqctl is not available (neither locally nor in a docker container)")
        assert self.rabbit_prefix is not None
        out = _run([*self.rabbit_prefix, *args])
        if check and out.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {out.stdout}{out.stderr}")
        return out.stdout

    def restart_rabbitmq(self) -> None:
        """Stop and start the RabbitMQ application (every connection drops; durable data stays)."""
        self.rabbitmqctl("stop_app")
        self.rabbitmqctl("start_app")
        self.rabbitmqctl("await_startup", check=False)

    def restart_postgres(self) -> None:
        if shutil.which("pg_lsclusters") and shutil.which("pg_ctlcluster"):
            out = _run(["pg_lsclusters", "-h"])
            for line in out.stdout.splitlines():
                version, name, port = line.split()[:3]
                if int(port) == self.pg_port:
                    subprocess.run(
                        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"],
                        check=True,
                        timeout=CMD_TIMEOUT,
                        capture_output=True,
                    )
                    return
        container = _docker_container(self.pg_port)
        if container:
            subprocess.run(["docker", "restart", container], check=True, timeout=CMD_TIMEOUT, capture_output=True)
            return
        _unavailable("cannot restart PostgreSQL here (no pg_ctlcluster cluster on its port, no docker container)")


@pytest.fixture(scope="session")
def services() -> Services:
    return Services()


@dataclass
class Vhost:
    name: str
    url: str


@pytest.fixture(scope="session")
def rabbit_vhost(services: Services) -> Iterator[Vhost]:
    """A private vhost for the whole session (deleted at the end), with the queue topology declared."""
    name = f"{VHOST_PREFIX}{os.getpid()}"
    try:
        _delete_stale_vhosts(services)
        services.rabbitmqctl("add_vhost", name)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # e.g. not allowed to read the cookie
        _unavailable(f"cannot create a RabbitMQ vhost with rabbitmqctl: {exc}")
    services.rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    parts = urlsplit(settings.RABBITMQ_URL)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), parts.query, ""))
    declare_broker_topology(url)
    try:
        yield Vhost(name, url)
    finally:
        services.rabbitmqctl("delete_vhost", name, check=False)


def _delete_stale_vhosts(services: Services) -> None:
    """Vhosts left by an earlier session that was killed (its pid is gone) on this machine."""
    for line in services.rabbitmqctl("list_vhosts", "--no-table-headers", check=False).splitlines():
        match = re.fullmatch(rf"{VHOST_PREFIX}(\d+)", line.strip())
        if match and services.rabbit_prefix == ["rabbitmqctl"] and not _pid_alive(int(match.group(1))):
            services.rabbitmqctl("delete_vhost", line.strip(), check=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def declare_broker_topology(url: str) -> None:
    """What a worker declares at start: the execution queue + DLQ and Celery's delayed delivery."""
    from kombu import Connection
    from kombu.transport.native_delayed_delivery import (
        bind_queue_to_native_delayed_delivery_exchange,
        declare_native_delayed_delivery_exchanges_and_queues,
    )

    from config.queues import declare_topology, execution_queue

    with Connection(url, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=30, interval_start=0.5, interval_step=0.5, interval_max=1)
        declare_topology(connection)
        declare_native_delayed_delivery_exchanges_and_queues(connection, "quorum")
        bind_queue_to_native_delayed_delivery_exchange(connection, execution_queue)


DELAY_QUEUES = tuple(f"celery_delayed_{level}" for level in range(28))  # Celery's native delayed delivery


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
def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


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
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config.celery_app",
                    "worker",
                    "-Q",
                    "schema_execution_queue",
                    "-n",
                    f"{self.name}@%h",
                    "-c",
                    str(self.concurrency),
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-l",
                    "INFO",
                ],
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


@dataclass
class SystemEnv:
    vhost: Vhost
    services: Services
    log_dir: Path
    workers: list[Worker] = field(default_factory=list)

    def worker_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CELERY_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.system",
            DATABASE_URL=database_url(),
            RABBITMQ_URL=self.vhost.url,
            LOG_LEVEL="INFO",
            SCHEMA_RECONCILE_GRACE_SECONDS="2",
            SCHEMA_HTTP_ALLOWLIST="127.0.0.1",
            SCHEMA_SYSTEM_TEST_HOOKS="1",
            WORKER_METRICS_PORT=str(free_port()),
            PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(prefix="schema-systest-prom-"),
            DB_CONN_MAX_AGE="60",
            PYTHONUNBUFFERED="1",
            DJANGO_DEBUG="false",
        )
        env.update(extra)
        return env

    def start_worker(self, *, concurrency: int = 2, ready: bool = True, **extra_env: str) -> Worker:
        worker = Worker(f"w{len(self.workers) + 1}", self.worker_env(**extra_env), self.log_dir, concurrency)
        self.workers.append(worker)
        worker.start()
        if ready:
            worker.wait_ready()
        return worker

    def manage(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`python manage.py ...` as an operator would run it against the same database and vhost."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            check=False,
            cwd=BASE_DIR,
            env=self.worker_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def assert_dlq_empty(self) -> None:
        """Nothing was dead-lettered: every message ended in a finished walk, not in the DLQ."""
        assert queue_counts(self.vhost.url, "schema_execution_dlq")[0] == 0, "messages were dead-lettered"

    def dump_logs(self) -> str:
        def tail(log: str) -> str:
            head, marker, stacks = log.partition("\n===== warm shutdown still running")
            return head[-6000:] + marker + stacks  # the stacks of a hung worker in full

        return "\n".join(f"===== {w.name} =====\n{tail(w.log())}" for w in self.workers)


@pytest.fixture
def system(rabbit_vhost: Vhost, services: Services, request: pytest.FixtureRequest) -> Iterator[SystemEnv]:
    """Publishing to the private vhost (not eagerly), empty queues, and workers killed at the end."""
    from config.celery_app import app

    previous_url, previous_eager = app.conf.broker_url, app.conf.task_always_eager
    previous_settings = settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER
    declare_broker_topology(rabbit_vhost.url)
    # Nothing left over from the previous test: queued, dead and still-delayed messages.
    purge_queue(rabbit_vhost.url, "schema_execution_queue", "schema_execution_dlq", *DELAY_QUEUES)
    use_broker(rabbit_vhost.url, eager=False)
    log_dir = Path(tempfile.mkdtemp(prefix=f"schema-systest-{request.node.name[:40]}-"))
    env = SystemEnv(rabbit_vhost, services, log_dir)
    try:
        yield env
    finally:
        for worker in env.workers:
            if worker.alive:
                worker.kill9()
            worker._reap_group()
        failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
        if failed:
            print(f"\nworker logs ({log_dir}):\n{env.dump_logs()}")
        elif os.environ.get("SCHEMA_SYSTEST_KEEP_LOGS") == "1":
            print(f"\nworker logs kept in {log_dir}")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
        use_broker(previous_url, eager=previous_eager)
        settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = previous_settings


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# --- a slow local HTTP server (a side-effecting step that takes a while) ---------------------------
@dataclass
class SlowServer:
    url: str
    delay: float
    fail_first: int = 0  # answer 500 to this many requests first
    requests: list[dict[str, str]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def slow_server() -> Iterator[SlowServer]:
    state = SlowServer(url="", delay=4.0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            state.requests.append({"path": self.path, "key": self.headers.get("Idempotency-Key", ""), "body": body})
            state.arrived.set()
            time.sleep(state.delay)
            failing = len(state.requests) <= state.fail_first
            payload = b'{"ok": false}' if failing else b'{"ok": true}'
            self.send_response(500 if failing else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload)
            except OSError:
                pass  # the caller was killed meanwhile

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/charge"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
