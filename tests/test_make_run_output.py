"""What a newcomer reads after `make run`: the Procfile's processes (API, worker, beat under honcho,
local settings, SQLite and the filesystem broker in a temp directory) start and run a delayed
execution without warnings; the worker's metrics port moves with PORT, and a taken one does not
stop the worker."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from config.prometheus import start_worker_metrics_server
from tests.helpers.live_api import free_port as _free_port

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HONCHO = BIN / "honcho"
NOISE = [
    "No hostname was supplied",  # kombu, once per connection the filesystem broker opened
    "No directory at",  # whitenoise: a staticfiles/ that `make run` never collects
    "Traceback",
    '"level": "ERROR"',
    "ERROR/",  # Celery's own format, e.g. a prefork child "exited with signal 15" when Ctrl-C stops it
    "worker metrics not served",
]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


def _wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.5)
    return False


@pytest.mark.skipif(not HONCHO.exists(), reason="honcho is installed by requirements/local.txt")
@pytest.mark.timeout(240)
def test_make_run_processes_start_and_run_a_delayed_execution_quietly(tmp_path: Path) -> None:
    port, metrics_port = _free_port(), _free_port()
    database = tmp_path / "db.sqlite3"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "RABBITMQ_", "DATABASE_", "CELERY_", "LOG_", "PROMETHEUS_"))
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PORT=str(port),
        WORKER_METRICS_PORT=str(metrics_port),
        DATABASE_URL=f"sqlite:///{database}",
        DJANGO_SETTINGS_MODULE="config.settings.local",
        LOG_FORMAT="console",  # as `make run` sets it
    )
    python = str(BIN / "python")
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True, timeout=180)
    # The demo data, then one execution for the worker: a re-run of the approval (delay 5 s → wait),
    # published to the broker before the worker starts. Its wake-up is a delayed message.
    setup = (
        "from django.core.management import call_command; call_command('seed_demo');"
        "from executions_app.models import Execution; from executions_app.services import execution_rerun;"
        "print('RERUN', execution_rerun(Execution.objects.filter(schema__name='Approval with reminder').first()).id)"
    )
    made = subprocess.run(
        [python, "manage.py", "shell", "-c", setup], cwd=REPO, env=env, check=True, timeout=180, capture_output=True
    )
    rerun = re.search(r"RERUN (\S+)", made.stdout.decode())
    assert rerun, made.stdout.decode() + made.stderr.decode()
    rerun_id = rerun.group(1).replace("-", "")
    assert (tmp_path / "broker" / "out").is_dir()  # the broker's folders sit beside the database

    lines: list[str] = []
    honcho = subprocess.Popen(
        [str(HONCHO), "start", "-f", "Procfile", "--no-colour"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert honcho.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(line.decode() for line in honcho.stdout), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def waiting_at_approval() -> bool:
        with sqlite3.connect(database, timeout=5) as db:
            row = db.execute(
                "SELECT e.status, s.wait_kind, s.current_node_id FROM executions e "
                "JOIN execution_state s ON s.execution_id = e.id WHERE replace(e.id, '-', '') = ?",
                [rerun_id],
            ).fetchone()
        return row == ("paused", "wait", "approval")

    try:
        assert _wait_for(lambda: _get(f"http://127.0.0.1:{port}/api/health/live") == 200, 90), "".join(lines)
        assert _wait_for(lambda: _get(f"http://127.0.0.1:{metrics_port}/metrics") == 200, 60), "".join(lines)
        static = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
        assert _get(f"http://127.0.0.1:{port}{static}") == 200
        assert _get(f"http://127.0.0.1:{port}/static/admin/css/base.css") == 200
        assert _wait_for(waiting_at_approval, 60), "".join(lines)
        time.sleep(2)  # a last beat tick and its reconcile
    finally:
        os.killpg(honcho.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            honcho.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait(timeout=10)
        reader.join(timeout=5)
    output = "".join(lines)
    # Not asserted: honcho's "sending SIGKILL" after 5 s. An idle worker's warm shutdown takes ~3.7 s
    # here (Celery's 2 s drain cycle, then its timer thread), so under load it is a timing test.
    for noise in NOISE:
        assert noise not in output, f"{noise!r} in `make run`'s output:\n{output}"
    assert not re.search(r"\| (ERROR|CRITICAL) ", output), output
    assert "| INFO    schema.engine: execution paused (wait at approval)" in output, output


def test_the_worker_metrics_port_moves_with_port() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=8150"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "WORKER_METRICS_PORT=9250" in dry and "LOG_FORMAT=console" in dry and "honcho start" in dry
    assert "http://127.0.0.1:9250/metrics" in dry  # the banner says where
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=8150", "WORKER_METRICS_PORT=9999"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "WORKER_METRICS_PORT=9999" in dry


def test_a_taken_metrics_port_costs_only_the_metrics(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # where the metrics server listens
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="schema.metrics"):
            start_worker_metrics_server(port, "memory://", [])
    [record] = [r for r in caplog.records if r.name == "schema.metrics"]
    assert "WORKER_METRICS_PORT" in record.getMessage() and str(port) in record.getMessage()
