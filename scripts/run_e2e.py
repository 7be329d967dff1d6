#!/usr/bin/env python
"""Run the editor's end-to-end tests against the real stack.

Starts, on a fresh PostgreSQL database and the RabbitMQ at RABBITMQ_URL: migrations, demo data,
the API (gunicorn, serving the built editor) and a Celery worker; then runs `npm run e2e` in
frontend/ with Debian's Chromium; stops everything. Without Chromium it skips loudly (an error
with CI=true).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get("E2E_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("E2E_DB_NAME", "schema_e2e")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def own_vhost_url() -> str:
    """A vhost of its own (when rabbitmqctl is at hand) so no other worker on this broker eats the
    e2e run's messages (named after the e2e database, so two runs with their own databases do
    not share one); else the default vhost."""
    if shutil.which("rabbitmqctl"):
        made = subprocess.run(["rabbitmqctl", "add_vhost", DB_NAME], capture_output=True, check=False)
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", DB_NAME, "guest", ".*", ".*", ".*"],
            capture_output=True,
            check=False,
        )
        if made.returncode == 0 or b"already exists" in made.stderr + made.stdout:
            return f"amqp://guest:guest@127.0.0.1:5672/{DB_NAME}"
    return "amqp://guest:guest@127.0.0.1:5672//"


def fail_or_skip(message: str) -> None:
    if CI:
        sys.exit(f"e2e: {message} (CI=true: this is an error)")
    print(f"\n{'!' * 78}\n!! e2e SKIPPED: {message}\n{'!' * 78}\n", file=sys.stderr)
    sys.exit(0)


def main() -> None:
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(chromium).exists():
        fail_or_skip(f"no Chromium at {chromium} (apt-get install chromium)")
    if not (ROOT / "frontend" / "dist" / "index.html").exists():
        sys.exit("e2e: the editor is not built (make frontend)")
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    except psycopg.OperationalError as exc:
        fail_or_skip(f"PostgreSQL unavailable: {exc}")
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}",
        "RABBITMQ_URL": os.environ.get("RABBITMQ_URL") or own_vhost_url(),
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        "SCHEMA_THROTTLE_USER": "100000/min",
        "SCHEMA_THROTTLE_ANON": "100000/min",
        "WORKER_METRICS_PORT": str(free_port()),
        # The task replay's local JSON API is called as `localhost`; 127.0.0.1 itself stays refused.
        "SCHEMA_HTTP_ALLOWLIST": "localhost",
    }
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run(  # nothing left over from an earlier run on this vhost
        [PY, "-m", "celery", "-A", "config.celery_app", "purge", "-f", "-Q", "schema_execution_queue"],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
    )
    subprocess.run([PY, "manage.py", "seed_demo"], cwd=ROOT, env=env, check=True)
    logs = ROOT / "var" / "e2e"
    logs.mkdir(parents=True, exist_ok=True)
    procs = [
        subprocess.Popen(
            [PY, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "4"],
            cwd=ROOT,
            env=env,
            stdout=open(logs / "api.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [
                PY,
                "-m",
                "celery",
                "-A",
                "config.celery_app",
                "worker",
                "-Q",
                "schema_execution_queue",
                "-c",
                "2",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(logs / "worker.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/api/health/live", timeout=1)  # noqa: S310 - our own http URL
                break
            except OSError:
                time.sleep(0.2)
        else:
            sys.exit("e2e: the API did not start; see var/e2e/api.log")
        npm = shutil.which("npm") or "npm"
        result = subprocess.run(
            [npm, "run", "e2e"],
            check=False,
            cwd=ROOT / "frontend",
            env={**env, "E2E_BASE_URL": base, "CHROMIUM_PATH": chromium},
        )
        if result.returncode:
            print("e2e failed; server logs in var/e2e/", file=sys.stderr)
        sys.exit(result.returncode)
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
