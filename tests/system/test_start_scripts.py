"""The compose start scripts run on this host, with the environment their deployment gives them.

No Docker engine is here to catch a start script that cannot start, so this test runs them: each
backend service of docker-compose.yml (`compose/local/django/*`) with the environment compose would
give it — the service's `environment` and `env_file` after compose's `${VAR:-default}`
interpolation, on top of its Dockerfile's `ENV` — and its `command` mapped back through the
Dockerfile's `COPY` lines to the script; then each process of the Helm chart
(`compose/production/django/*`) with the rendered ConfigMap, the Secret (mounted as files, as the
chart does) and the production Dockerfile's `ENV`. Nothing is copied by hand: a new service, script
or variable is picked up from those files.

What differs from a container, and only that: the services' compose names (`postgres`,
`rabbitmq`) resolve to this host's PostgreSQL and RabbitMQ, on a database and vhost of the test's
own (given as the `POSTGRES_*`/`RABBITMQ_*` interpolation variables, as a `.env` would); ports are
free ports; listeners bind 127.0.0.1 (`BIND_ADDRESS`, `GUNICORN_CMD_ARGS`); the pod's `/tmp` and
secret mount are private directories; the bind-mounted source is a copy of the working tree.

Each must reach its ready state: migrate exits 0; the API answers /api/health/ready; the worker
answers a ping over the broker; beat holds the beat lock and has written its schedule (and, in
production, its heartbeat). The production worker and beat are then frozen (SIGSTOP): their probes
(`/healthcheck.py`) fail, and pass again once they run (SIGCONT).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
import pytest
import yaml
from django.db import connection

from config.queues import DLQ, EXECUTION_QUEUE, WAKE_UP_QUEUE
from tests.helpers.live_api import database_url, free_port
from tests.system.conftest import Vhost
from tests.system.helpers import BASE_DIR, DELAY_QUEUES, SYSTEM_MARKS, purge_queue, wait_until

pytestmark = [*SYSTEM_MARKS, pytest.mark.timeout(600)]

COMPOSE = BASE_DIR / "docker-compose.yml"
LOCAL_DOCKERFILE = "compose/local/django/Dockerfile"
PRODUCTION_DOCKERFILE = BASE_DIR / "compose" / "production" / "django" / "Dockerfile"
READY_TIMEOUT = 150  # seconds for one process to become ready on a loaded machine


# --- reading compose, Dockerfiles and the chart ----------------------------------------------------
_VARIABLE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}."""

    def replace(match: re.Match[str]) -> str:
        escaped, name, operator, argument, bare = match.groups()
        if escaped:
            return "$"
        name = name or bare
        value = variables.get(name)
        if operator in (":-", "-"):
            if value is None or (operator == ":-" and value == ""):
                return interpolate(argument, variables)
        elif operator in (":?", "?") and (value is None or (operator == ":?" and value == "")):
            raise AssertionError(f"compose would refuse: {name}: {argument}")
        return value or ""

    return _VARIABLE.sub(replace, value)


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip("'\"")
    return env


@dataclass
class Dockerfile:
    env: dict[str, str]
    copies: dict[str, str]  # path in the image -> path in the repository


def read_dockerfile(path: Path) -> Dockerfile:
    text = re.sub(r"\\\n", " ", path.read_text())
    env: dict[str, str] = {}
    copies: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True) if line.strip() else []
        if not words:
            continue
        if words[0] == "ENV":
            for pair in words[1:]:
                key, _, value = pair.partition("=")
                if "$" not in value:  # PATH=/opt/venv/bin:$PATH: the host's PATH is set below
                    env[key] = value
        elif words[0] == "COPY" and not any(w.startswith("--from") for w in words):
            sources = [w for w in words[1:] if not w.startswith("--")]
            if len(sources) == 2:
                copies[sources[1]] = sources[0]
    return Dockerfile(env, copies)


def script_of(command: list[str], dockerfile: Dockerfile) -> list[str]:
    """The image's command as a command line on this host: `/start` -> compose/.../start."""
    if command[0] in dockerfile.copies:
        return [str(BASE_DIR / dockerfile.copies[command[0]]), *command[1:]]
    return command


def host_env(**env: str) -> dict[str, str]:
    """What a container starts with besides its configuration: a PATH with the interpreter and tools."""
    venv_bin = str(Path(os.environ.get("VIRTUAL_ENV") or BASE_DIR / ".venv") / "bin")
    base = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": tempfile.mkdtemp(prefix="schema-startscripts-home-"),
        "LANG": "C.UTF-8",
    }
    return {**base, **env}


# --- processes ---------------------------------------------------------------------------------------
@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_dir: Path
    popen: subprocess.Popen[bytes] | None = None
    checks: list[str] = field(default_factory=list)

    def start(self) -> Process:
        log = open(self.log_dir / f"{self.name}.log", "wb")
        self.popen = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def log(self) -> str:
        return (self.log_dir / f"{self.name}.log").read_text(errors="replace")

    def exited(self) -> int | None:
        assert self.popen is not None
        return self.popen.poll()

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)

    def wait_ready(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            code = self.exited()
            if code is not None:
                pytest.fail(
                    f"{self.name} ({shlex.join(self.argv)}) exited with {code} before {what}:\n{self.log()[-6000:]}"
                )
            try:
                if ready():
                    self.checks.append(what)
                    return
            except Exception:
                pass
            time.sleep(0.5)
        pytest.fail(f"{self.name} did not reach '{what}' in {READY_TIMEOUT} s:\n{self.log()[-6000:]}")


def run_once(process: Process) -> None:
    process.start()
    assert process.popen is not None
    try:
        code = process.popen.wait(timeout=READY_TIMEOUT * 2)
    except subprocess.TimeoutExpired:
        process.stop()
        pytest.fail(f"{process.name} did not finish:\n{process.log()[-6000:]}")
    assert code == 0, f"{process.name} ({shlex.join(process.argv)}) exited with {code}:\n{process.log()[-6000:]}"


# --- ready states ------------------------------------------------------------------------------------
def api_ready(port: int) -> Callable[[], bool]:
    def check() -> bool:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/health/ready", headers={"Host": "localhost"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return bool(response.status == 200)

    return check


def worker_answers_ping(broker_url: str) -> Callable[[], bool]:
    def check() -> bool:
        from celery import Celery

        # Not set as current: this process's own app would be replaced by one closed below, and
        # every later publish from the test process would fail ("Acquire on closed pool").
        app = Celery(broker=broker_url, set_as_current=False)
        try:
            return bool(app.control.ping(timeout=2.0))
        finally:
            app.close()

    return check


def beat_holds_the_lock_and_its_schedule(url: str) -> Callable[[], bool]:
    """An advisory lock is held in the database (the beat lock, config/beat_lock.py) and the
    scheduler has written the static schedule into django-celery-beat's table."""

    def check() -> bool:
        with psycopg.connect(url, connect_timeout=5) as conn:
            locks = conn.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                " WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
            ).fetchone()
            tasks = conn.execute("SELECT count(*) FROM django_celery_beat_periodictask").fetchone()
        return bool(locks and locks[0] >= 1 and tasks and tasks[0] >= 1)

    return check


def classify(script: str) -> str:
    text = Path(script).read_text() if Path(script).exists() else script
    if "runserver" in text or "gunicorn" in text:
        return "api"
    if re.search(r"\bworker\b", text):
        return "worker"
    if re.search(r"\bbeat\b", text):
        return "beat"
    return "other"


# --- fixtures ------------------------------------------------------------------------------------------
@pytest.fixture
def scratch_database() -> Iterator[Callable[[str], str]]:
    """Databases of this test's own (`<test database>_<suffix>`), dropped at the end."""
    admin = database_url().rsplit("/", 1)[0] + "/postgres"
    made: list[str] = []

    def make(suffix: str) -> str:
        name = f"{connection.settings_dict['NAME']}_{suffix}"
        subprocess.run(["dropdb", "--if-exists", "--force", f"--maintenance-db={admin}", name], check=True, timeout=60)
        subprocess.run(["createdb", f"--maintenance-db={admin}", name], check=True, timeout=60)
        made.append(name)
        return database_url().rsplit("/", 1)[0] + f"/{name}"

    yield make
    for name in made:
        subprocess.run(["dropdb", "--if-exists", "--force", f"--maintenance-db={admin}", name], timeout=60, check=False)


@pytest.fixture
def source_copy(tmp_path: Path) -> Path:
    """The working tree's files (what the bind mount shows a container), copied: other people's edits
    of the shared tree must not restart the watchfiles-driven development processes under test."""
    target = tmp_path / "app"
    target.mkdir()
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=BASE_DIR, capture_output=True, check=True,
    ).stdout  # fmt: skip
    subprocess.run(
        f"tar --null -T - -cf - --ignore-failed-read 2>/dev/null | tar -xf - -C {shlex.quote(str(target))}",
        shell=True,
        input=files, cwd=BASE_DIR, check=True,
    )  # fmt: skip
    return target


@pytest.fixture
def vhost(rabbit_vhost: Vhost) -> Vhost:
    purge_queue(rabbit_vhost.url, EXECUTION_QUEUE, WAKE_UP_QUEUE, DLQ, *DELAY_QUEUES)
    return rabbit_vhost


def _stop_all(processes: list[Process]) -> None:
    for process in reversed(processes):
        process.stop()


# --- the tests ---------------------------------------------------------------------------------------
def test_compose_backend_services_start_with_the_environment_compose_gives_them(
    scratch_database: Callable[[str], str], vhost: Vhost, source_copy: Path, tmp_path: Path
) -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    url = urlsplit(scratch_database("compose"))
    amqp = urlsplit(vhost.url)
    ports = {"PORT": str(free_port()), "WORKER_METRICS_PORT": str(free_port())}
    # The interpolation variables a developer's .env would hold, pointing at this host's services.
    variables = {
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_DB": url.path.lstrip("/"),
        "RABBITMQ_DEFAULT_USER": amqp.username or "guest",
        "RABBITMQ_DEFAULT_PASS": amqp.password or "guest",
        **ports,
    }
    addresses = {
        "@postgres:5432/": f"@{url.hostname}:{url.port or 5432}/",
        "@rabbitmq:5672/": f"@{amqp.hostname}:{amqp.port or 5672}/{quote(vhost.name, safe='')}",
    }
    services = {
        name: svc
        for name, svc in compose["services"].items()
        if isinstance(svc.get("build"), dict) and svc["build"]["dockerfile"].lstrip("./") == LOCAL_DOCKERFILE
    }
    assert {"migrate", "backend-api", "backend-worker", "backend-beat"} <= set(services)
    dockerfile = read_dockerfile(BASE_DIR / LOCAL_DOCKERFILE)

    def process(name: str) -> Process:
        svc = services[name]
        env: dict[str, str] = dict(dockerfile.env)
        for entry in svc.get("env_file", []):
            path, required = (entry, True) if isinstance(entry, str) else (entry["path"], entry.get("required", True))
            if (source_copy / path).exists():
                env.update(read_env_file(source_copy / path))
            else:
                assert not required, f"{name}: env_file {path} is required"
        environment = svc.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        for key, raw in environment.items():
            value = interpolate(str(raw), variables)
            for service_address, host_address in addresses.items():
                value = value.replace(service_address, host_address)
            env[key] = value
        assert "@postgres:" not in env["DATABASE_URL"] and "@rabbitmq:" not in env["RABBITMQ_URL"]
        command = svc["command"]
        argv = script_of(shlex.split(command) if isinstance(command, str) else list(command), dockerfile)
        assert Path(argv[0]).is_file(), f"{name}: {command} is not a script of {LOCAL_DOCKERFILE}"
        env = host_env(**env, BIND_ADDRESS="127.0.0.1")
        return Process(name, argv, env, source_copy, tmp_path)

    started: list[Process] = []
    try:
        one_shots = [n for n, s in services.items() if s.get("restart") == "no"]
        assert one_shots == ["migrate"]
        run_once(process("migrate"))
        for name in sorted(set(services) - set(one_shots)):
            started.append(process(name).start())
        for proc in started:
            kind = classify(proc.argv[0])
            if kind == "api":
                proc.wait_ready(api_ready(int(ports["PORT"])), "answers /api/health/ready")
            elif kind == "worker":
                proc.wait_ready(worker_answers_ping(vhost.url), "answers a ping")
            elif kind == "beat":
                proc.wait_ready(beat_holds_the_lock_and_its_schedule(url.geturl()), "holds the beat lock")
            else:
                time.sleep(20)
                assert proc.exited() is None, f"{proc.name} exited:\n{proc.log()[-6000:]}"
        assert {p.name: p.checks for p in started} == {
            "backend-api": ["answers /api/health/ready"],
            "backend-beat": ["holds the beat lock"],
            "backend-worker": ["answers a ping"],
        }
    finally:
        _stop_all(started)


def _run_probe(env: dict[str, str], *args: str) -> int:
    script = BASE_DIR / "compose" / "production" / "django" / "healthcheck.py"
    return subprocess.run(
        ["python", str(script), *args], env=env, capture_output=True, timeout=30, check=False
    ).returncode


def test_chart_processes_start_with_the_environment_the_chart_gives_them(
    scratch_database: Callable[[str], str], vhost: Vhost, tmp_path: Path
) -> None:
    from tests.deploy.helpers import by_kind_name, ci_values, render_chart

    db_url = scratch_database("chart")
    objs = by_kind_name(render_chart(ci_values("default")))
    config: dict[str, str] = objs[("ConfigMap", "schema")]["data"]
    secret: dict[str, str] = dict(objs[("Secret", "schema-env")]["stringData"])
    secret.update(DATABASE_URL=db_url, RABBITMQ_URL=vhost.url)  # the operator's values: ours
    # The pod's secret volume: one file per key, as the kubelet writes them (no trailing newline).
    mount = tmp_path / "secrets"
    mount.mkdir()
    for key, value in secret.items():
        (mount / key).write_text(value)
    assert config.get("DATABASE_URL_FILE"), "the chart mounts the Secret as files by default"
    files = {k: v.replace("/run/secrets/schema", str(mount)) for k, v in config.items() if k.endswith("_FILE")}
    pod_tmp = tmp_path / "pod-tmp"
    pod_tmp.mkdir()
    image = read_dockerfile(PRODUCTION_DOCKERFILE)
    api_port, metrics_port = free_port(), free_port()
    # The container's environment: the image's ENV, overridden by the pod's (ConfigMap), then ours.
    env = host_env(
        **{
            **image.env,
            **config,
            **files,
            "PORT": str(api_port),
            "WORKER_METRICS_PORT": str(metrics_port),
            "SCHEMA_HEARTBEAT_DIR": str(pod_tmp),
            "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{api_port}",
        }
    )
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert not [k for k in env if k in secret], "no secret in the environment: only the *_FILE paths"

    migrations = objs[("Job", "schema-migrations")]["spec"]["template"]["spec"]["containers"][0]["command"]
    run_once(Process("migrations", migrations, env, BASE_DIR, tmp_path))
    started: list[Process] = []
    try:
        assert _run_probe(env, "worker") == 1 and _run_probe(env, "beat") == 1, "no heartbeat before they run"
        for component in ("api", "worker", "beat"):
            container = objs[("Deployment", f"schema-{component}")]["spec"]["template"]["spec"]["containers"][0]
            argv = script_of(container["command"], image)
            assert Path(argv[0]).is_file(), f"{component}: {container['command']} is not a script of the image"
            started.append(Process(component, argv, env, BASE_DIR, tmp_path).start())
        api, worker, beat = started
        api.wait_ready(api_ready(api_port), "answers /api/health/ready")
        worker.wait_ready(worker_answers_ping(vhost.url), "answers a ping")
        worker.wait_ready(lambda: _run_probe(env, "worker", "--ready") == 0, "its readiness probe passes")
        beat.wait_ready(beat_holds_the_lock_and_its_schedule(db_url), "holds the beat lock")
        beat.wait_ready(lambda: _run_probe(env, "beat") == 0, "its probe passes")

        # The probes are a real signal: a frozen worker or beat fails them, and passes once it runs.
        probe_env = {**env, "HEARTBEAT_MAX_AGE": "8"}
        for proc, component in ((worker, "worker"), (beat, "beat")):
            assert proc.popen is not None

            def probe(component: str = component) -> int:
                return _run_probe(probe_env, component)

            os.killpg(proc.popen.pid, signal.SIGSTOP)
            try:
                wait_until(lambda: probe() == 1, timeout=40, what=f"{proc.name} probe to fail")
            finally:
                os.killpg(proc.popen.pid, signal.SIGCONT)
            wait_until(lambda: probe() == 0, timeout=40, what=f"{proc.name} probe to pass")
        assert {p.name: p.checks for p in started} == {
            "api": ["answers /api/health/ready"],
            "worker": ["answers a ping", "its readiness probe passes"],
            "beat": ["holds the beat lock", "its probe passes"],
        }
    finally:
        _stop_all(started)
    assert not (pod_tmp / "worker.ready").exists(), "a stopped worker is not ready"


def test_interpolation_follows_compose() -> None:
    variables = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d}/${EMPTY:-d}/${EMPTY-d}/${UNSET-d}/$$SET/$SET/${UNSET}", variables) == "x/d//d/$SET/x/"
    with pytest.raises(AssertionError, match="compose would refuse"):
        interpolate("${UNSET:?needed}", variables)
    df = read_dockerfile(PRODUCTION_DOCKERFILE)
    assert df.copies["/start-celeryworker"] == "compose/production/django/celery/worker/start"
    assert df.env["DJANGO_SETTINGS_MODULE"] == "config.settings.production" and "PATH" not in df.env
