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

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
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


# --- the frontend and RabbitMQ services: in namespaces of their own ------------------------------------
# Their start scripts use fixed paths and ports (/etc/rabbitmq, /opt/schema, /var/lib/rabbitmq, :5173,
# :5672), as a container may: each runs in private mount, network, UTS and PID namespaces (root, as
# the suite runs here), where those paths are the service's volumes and those ports its own, and the
# whole namespace dies with its first process.
NS_SETUP_TIMEOUT = 30


def _needs_namespaces() -> None:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("running a service in namespaces of its own needs root and unshare (as the CI machine has)")


@dataclass
class Namespaced:
    """A service's command, run by `setup` (bash, as root) in new namespaces."""

    name: str
    setup: str
    env: dict[str, str]
    log_dir: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Namespaced:
        log = open(self.log_dir / f"{self.name}.log", "wb")
        argv = ["unshare", "--mount", "--net", "--uts", "--pid", "--fork", "--mount-proc", "--propagation", "private",
                "bash", "-c", self.setup]  # fmt: skip
        self.popen = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def log(self) -> str:
        return (self.log_dir / f"{self.name}.log").read_text(errors="replace")

    def init_pid(self) -> int:
        """The namespace's first process (unshare's child): nsenter's target."""
        assert self.popen is not None
        children = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children")
        pids = wait_until(
            lambda: children.read_text().split(), timeout=NS_SETUP_TIMEOUT, what=f"{self.name}'s namespace"
        )
        return int(pids[0])

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A command inside the service's namespaces (as `docker exec` would run it), its PID namespace
        included: what it leaves running (the Erlang CLI starts `epmd -daemon`) dies with the service."""
        enter = ["nsenter", f"--target={self.init_pid()}", "--mount", "--net", "--uts", "--pid"]
        return subprocess.run([*enter, *argv], capture_output=True, text=True, timeout=timeout, check=False)

    def wait_ready(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        assert self.popen is not None
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.popen.returncode} before {what}:\n{self.log()[-6000:]}")
            if check():
                return
            time.sleep(1)
        pytest.fail(f"{self.name} did not reach '{what}' in {READY_TIMEOUT} s:\n{self.log()[-6000:]}")

    def stop(self) -> None:
        """SIGKILL of the namespace's first process: the kernel ends every other one in it."""
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.kill(self.init_pid(), signal.SIGKILL)
        except (ProcessLookupError, AssertionError):
            pass
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)


def dockerfile_json(path: Path, instruction: str) -> list[str]:
    """The exec form of a Dockerfile instruction (`CMD [...]`, `HEALTHCHECK ... CMD [...]`)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pattern = rf"^{instruction}\b.*?(\[.*\])\s*$" if instruction == "HEALTHCHECK" else rf"^{instruction}\s+(\[.*\])\s*$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{path.name}: no {instruction} in exec form"
    words = json.loads(found.group(1))
    assert isinstance(words, list)
    return [str(w) for w in words]


def compose_environment(svc: dict[str, Any], variables: dict[str, str]) -> dict[str, str]:
    environment = svc.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: interpolate(str(raw), variables) for key, raw in environment.items()}


def test_compose_frontend_dev_server_starts_with_the_environment_compose_gives_it(tmp_path: Path) -> None:
    """`compose/local/frontend/start` as compose runs it: the Dockerfile's ENV and CMD, the service's
    environment, ./frontend at /app (here a private overlay of the working tree's frontend/, so
    nothing is written into it) with node_modules as the named volume holds it after the first start
    (installed, and the lock file's checksum stamped: the first start's `npm ci` needs the package
    registry, which the suite does not use). The dev server must answer the image's HEALTHCHECK and
    serve the editor, on port 5173 of its own network namespace."""
    _needs_namespaces()
    if not (BASE_DIR / "frontend" / "node_modules" / ".bin" / "vite").exists():
        pytest.skip("frontend/node_modules is not installed (npm ci in frontend/ first)")
    compose = yaml.safe_load(COMPOSE.read_text())
    svc = compose["services"]["frontend"]
    dockerfile_path = BASE_DIR / svc["build"]["dockerfile"]
    image = read_dockerfile(dockerfile_path)
    command = script_of(dockerfile_json(dockerfile_path, "CMD"), image)
    assert Path(command[0]).is_file() and command[0].endswith("compose/local/frontend/start")
    assert "./frontend:/app:z" in svc["volumes"] and "frontend_node_modules:/app/node_modules" in svc["volumes"]
    env = host_env(**image.env, **compose_environment(svc, {}))
    assert env["REACT_APP_API_URL"] == "/api" and env["API_PROXY_TARGET"].startswith("http://backend-api:")
    upper, work, app = tmp_path / "upper", tmp_path / "work", tmp_path / "app"
    for d in (upper, work, app):
        d.mkdir()
    setup = f"""set -o errexit -o nounset -o pipefail
ip link set lo up
mount -t overlay overlay -o lowerdir={shlex.quote(str(BASE_DIR / "frontend"))},upperdir={upper},workdir={work} {app}
cd {app}  # WORKDIR /app
sha256sum package-lock.json | cut -d' ' -f1 > node_modules/.package-lock.sha256
exec {shlex.join(command)}
"""
    server = Namespaced("frontend", setup, env, tmp_path).start()
    try:
        healthcheck = dockerfile_json(dockerfile_path, "HEALTHCHECK")
        server.wait_ready(lambda: server.run(*healthcheck, timeout=30).returncode == 0, "its HEALTHCHECK passes")
        fetch = "fetch('http://127.0.0.1:5173/').then(async (r) => console.log(r.status, await r.text()))"
        page = server.run("node", "-e", fetch, timeout=30)
        assert page.stdout.startswith("200 ") and '<div id="root">' in page.stdout, page.stdout + page.stderr
        assert server.popen is not None and server.popen.poll() is None
    finally:
        server.stop()
    assert (upper / "node_modules" / ".package-lock.sha256").exists(), "the overlay took every write"


def test_compose_rabbitmq_wrapper_boots_a_broker_with_its_user_and_topology(tmp_path: Path) -> None:
    """`compose/local/rabbitmq/start` as compose runs it (entrypoint, command, environment, hostname,
    the mounted files, a fresh `rabbitmq_data` volume) with this host's RabbitMQ server in place of
    the image's: the broker boots, passes compose's healthcheck, has the user of
    RABBITMQ_DEFAULT_USER/PASS (and no other: the image's default user is not created) and the
    topology of monitoring/rabbitmq/definitions.json. What differs from the container: the image's
    entrypoint (`docker-entrypoint.sh`, which hands over to the server as the `rabbitmq` user) is a
    stand-in that execs its arguments (the host's `rabbitmq-server` switches to that user itself)."""
    _needs_namespaces()
    if not shutil.which("rabbitmq-server"):
        pytest.skip("no rabbitmq-server on this host (the broker runs elsewhere, e.g. in a service container)")
    compose = yaml.safe_load(COMPOSE.read_text())
    svc = compose["services"]["rabbitmq"]
    env = host_env(**compose_environment(svc, {}))
    user, password = env["RABBITMQ_DEFAULT_USER"], env["RABBITMQ_DEFAULT_PASS"]
    entrypoint, command = list(svc["entrypoint"]), list(svc["command"])
    # The image's entrypoint, which the wrapper hands over to.
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "docker-entrypoint.sh").write_text('#!/bin/sh\nexec "$@"\n')
    (stand_in / "docker-entrypoint.sh").chmod(0o755)
    env["PATH"] = f"{stand_in}:/usr/local/sbin:/usr/sbin:/sbin:{env['PATH']}"
    hostname = svc["hostname"]
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {hostname}\n")
    # The image runs RabbitMQ 3.13; a server older than that refuses the one setting it does not know
    # yet (`default_queue_type`): it is left out of the mounted settings (nothing else is changed).
    version = subprocess.run(["rabbitmqctl", "version"], capture_output=True, text=True, timeout=60, check=False)
    host_version = tuple(int(part) for part in re.findall(r"\d+", version.stdout)[:2])
    mounts = []
    for volume in svc["volumes"]:
        source, target, *options = volume.split(":")
        path = BASE_DIR / source
        if source.endswith("rabbitmq.conf") and host_version < (3, 13):
            settings = [line for line in path.read_text().splitlines() if not line.startswith("default_queue_type")]
            path = tmp_path / "20-schema.conf"
            path.write_text("\n".join(settings) + "\n")
        if source.startswith("./"):  # a bind mount of a repository file, read-only as compose mounts it
            bind = f"touch {target} && mount --bind {shlex.quote(str(path))} {target}"
            mounts.append(f"{bind} && mount -o remount,bind,ro {target}" if "ro" in options else bind)
        else:  # the named volume: new and empty
            mounts.append(f"mount -t tmpfs {source} {target} && chown rabbitmq:rabbitmq {target}")
    setup = f"""set -o errexit -o nounset -o pipefail
ip link set lo up
hostname {shlex.quote(hostname)}
mount --bind {hosts} /etc/hosts
# What the image holds and the host must not lend it: its own /etc/rabbitmq, /opt and logs.
for dir in /etc/rabbitmq /opt /var/lib/rabbitmq /var/log/rabbitmq; do
    mkdir -p "$dir" && mount -t tmpfs schema "$dir"
done
mkdir -p /etc/rabbitmq/conf.d /opt/schema
chown rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
{chr(10).join(mounts)}
exec {shlex.join([*entrypoint, *command])}
"""
    broker = Namespaced("rabbitmq", setup, env, tmp_path).start()
    try:
        healthcheck = [w for w in svc["healthcheck"]["test"] if w != "CMD"]
        broker.wait_ready(lambda: broker.run(*healthcheck).returncode == 0, "compose's healthcheck passes")
        users = broker.run("rabbitmqctl", "-q", "list_users").stdout
        assert [line.split()[0] for line in users.splitlines()[1:] if line.strip()] == [user], users
        assert broker.run("rabbitmqctl", "-q", "authenticate_user", user, password).returncode == 0
        definitions = json.loads((BASE_DIR / "monitoring/rabbitmq/definitions.json").read_text())
        queues = broker.run("rabbitmqctl", "-q", "list_queues", "name", "type").stdout
        for queue in definitions["queues"]:
            assert queue["name"] in queues, queues
        policies = broker.run("rabbitmqctl", "-q", "list_policies").stdout
        for policy in definitions["policies"]:
            assert policy["name"] in policies, policies
        written = broker.run("stat", "-c", "%a %U", "/etc/rabbitmq/definitions.json").stdout.split()
        assert written == ["640", "rabbitmq"], written
    finally:
        broker.stop()
