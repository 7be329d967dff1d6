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

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.conf import settings

from config.queues import DLQ, EXECUTION_QUEUE, PRIORITY_QUEUE, WAKE_UP_QUEUE
from tests.helpers.http_server import LocalServer
from tests.helpers.live_api import database_url, free_port
from tests.system.helpers import (
    BASE_DIR,
    DELAY_QUEUES,
    Beat,
    Worker,
    declare_broker_topology,
    purge_queue,
    queue_counts,
    use_broker,
)

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CMD_TIMEOUT = 60
VHOST_PREFIX = "schema_test_"


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


# --- the test environment ---------------------------------------------------------------------------
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

    def api_env(self, **extra: str) -> dict[str, str]:
        """The environment of a real API process (`tests.helpers.live_api.gunicorn_servers`) that
        publishes to this vhost."""
        return {
            "DJANGO_SETTINGS_MODULE": "config.settings.system",
            "RABBITMQ_URL": self.vhost.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "LOG_LEVEL": "WARNING",
            **extra,
        }

    def start_beat(self, **extra_env: str) -> Beat:
        """`celery beat` on the same database and vhost (killed at the end, like the workers)."""
        beat = Beat(f"beat{len(self.workers) + 1}", self.worker_env(**extra_env), self.log_dir, 0)
        self.workers.append(beat)
        return beat.start()

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
        assert queue_counts(self.vhost.url, DLQ)[0] == 0, "messages were dead-lettered"

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
    purge_queue(rabbit_vhost.url, EXECUTION_QUEUE, PRIORITY_QUEUE, WAKE_UP_QUEUE, DLQ, *DELAY_QUEUES)
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
@pytest.fixture
def slow_server() -> Iterator[LocalServer]:
    """`/charge` takes 4 s unless a test sets `delay`; `fail_first` makes the first calls answer 500."""
    server = LocalServer("127.0.0.1", "slow")
    server.delay = 4.0
    try:
        yield server
    finally:
        server.close()
