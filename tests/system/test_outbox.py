"""Lost publishes repaired by the outbox relay (a thread of beat), not by the reconciler: its grace is
10 minutes here, so an execution that completes was published by the relay.

- kill -9 of an API process (gunicorn) between the commit and the publish, during a burst of
  webhooks (the kill point in tests/system/worker_hooks.py: after the 202 went out): every 202
  completes once, and so does every execution whose publish died with its process;
- a webhook whose API process's broker connection is black-holed (tests/helpers/netcut.py) after
  the commit, before the publish: it runs anyway.
The times from the commit to the relay's publish are printed (not asserted: shared machine)."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection

from executions_app.models import Execution
from tests.builders import linear_definition
from tests.factories import create_schema
from tests.helpers.live_api import gunicorn_servers
from tests.helpers.netcut import CutProxy
from tests.system.conftest import SystemEnv
from tests.system.helpers import BASE_DIR, SYSTEM_MARKS, assert_nothing_twice, wait_all, wait_until

pytestmark = SYSTEM_MARKS
NO_RECONCILER = {"SCHEMA_RECONCILE_GRACE_SECONDS": "600"}


def _post(url: str, secret: str, n: int) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=json.dumps({"name": f"n{n}"}).encode(),
        headers={"Content-Type": "application/json", "X-Schema-Secret": secret},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()).get("id", "")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, http.client.HTTPException):  # the process died under this request
        return 0, ""


def _start_beat(system: SystemEnv) -> subprocess.Popen[bytes]:
    schedule = Path(tempfile.mkdtemp(prefix="schema-outbox-beat-")) / "schedule"
    command = [
        sys.executable, "-m", "celery", "-A", "config.celery_app", "beat", "-l", "INFO",
        "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "-s", str(schedule),
    ]  # fmt: skip
    log = open(system.log_dir / "beat.log", "ab")  # the child writes to it
    beat = subprocess.Popen(
        command, cwd=BASE_DIR, env=system.worker_env(**NO_RECONCILER), stdout=log, stderr=subprocess.STDOUT
    )
    # the burst starts once the relay runs (under load beat takes seconds to start)
    wait_until(
        lambda: "outbox relay listening" in (system.log_dir / "beat.log").read_text(errors="replace"),
        timeout=120,
        what="the outbox relay to listen",
    )
    return beat


def _relayed(system: SystemEnv) -> dict[str, dict[str, Any]]:
    """The relay's log lines, by execution id."""
    lines = {}
    for line in (system.log_dir / "beat.log").read_text(errors="replace").splitlines():
        if "outbox relay published" in line and line.startswith("{"):
            record = json.loads(line)
            lines[record["execution_id"]] = record
    return lines


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _api_env(system: SystemEnv, **extra: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.system",
        "RABBITMQ_URL": system.vhost.url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DB_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
        "SCHEMA_SYSTEM_TEST_HOOKS": "1",
        # the kill point: the hooks module is loaded by the master and inherited by its workers
        "GUNICORN_CMD_ARGS": "--config python:tests.system.worker_hooks",
        **extra,
    }


@pytest.mark.timeout(400)
def test_kill_9_of_the_api_between_commit_and_publish_in_a_burst(system: SystemEnv, tmp_path: Path) -> None:
    schema = create_schema(definition=linear_definition("webhook_trigger"), name="outbox", activate=True)
    system.start_worker(concurrency=2, **NO_RECONCILER)
    beat = _start_beat(system)
    kills_dir = tmp_path / "kills"
    kills_dir.mkdir()
    kills = 4
    answers: list[tuple[int, str]] = []
    stop = threading.Event()
    try:
        with gunicorn_servers(1, **_api_env(system, SCHEMA_SYSTEST_API_KILLS=f"{kills_dir}:{kills}")) as [base]:
            hook = f"{base}/api/hooks/{schema.id}/"

            def send(offset: int) -> None:
                n = offset
                while not stop.is_set():
                    answers.append(_post(hook, schema.webhook_secret, n))
                    n += 4

            senders = [threading.Thread(target=send, args=(i,)) for i in range(4)]
            for sender in senders:
                sender.start()
            deadline = time.monotonic() + 150
            while len(list(kills_dir.iterdir())) < kills and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)
            stop.set()
            for sender in senders:
                sender.join(timeout=60)
        killed = {path.name: float(path.read_text()) for path in kills_dir.iterdir()}
        assert len(killed) >= kills, f"the API was killed {len(killed)} times"
        accepted = [execution_id for status, execution_id in answers if status == 202]
        everything = sorted(set(accepted) | set(killed))
        wait_all(everything, "completed", timeout=180, what="every 202 and every execution whose publish was killed")
        assert_nothing_twice(everything)
        relayed = _relayed(system)
    finally:
        _stop(beat)
    assert set(killed) <= set(relayed), "the relay published each execution whose publish died with the API"
    rows = {str(pk): row for pk, row in Execution.objects.in_bulk(list(killed)).items()}
    repair = sorted(relayed[k]["age_ms"] for k in killed)
    started = sorted(round((rows[k].started_at.timestamp() - killed[k]) * 1000) for k in killed)  # type: ignore[union-attr]
    statuses = dict(Counter(status for status, _ in answers))
    print(
        f"\n[kill -9 of the API between commit and publish] answers {statuses}; {len(killed)} publishes killed; "
        f"commit → relay's publish (ms): {repair}; kill → the worker started it (ms): {started}; "
        f"relay publishes in all: {len(relayed)} (the others: the latest execution of a killed process's other "
        "threads, still queued)"
    )


@pytest.mark.timeout(300)
def test_a_webhook_whose_api_broker_connection_is_black_holed_after_commit_still_runs(system: SystemEnv) -> None:
    schema = create_schema(definition=linear_definition("webhook_trigger"), name="outbox-cut", activate=True)
    system.start_worker(concurrency=2, **NO_RECONCILER)
    beat = _start_beat(system)
    broker = urlsplit(system.vhost.url)
    proxy = CutProxy(broker.hostname or "127.0.0.1", broker.port or 5672)
    try:
        with gunicorn_servers(1, **_api_env(system, RABBITMQ_URL=proxy.url(system.vhost.url))) as [base]:
            hook = f"{base}/api/hooks/{schema.id}/"
            warm = [_post(hook, schema.webhook_secret, n)[1] for n in range(4)]  # both API processes connected
            wait_all(warm, "completed", timeout=60, what="the warm-up webhooks")
            proxy.blackhole()
            status, execution_id = _post(hook, schema.webhook_secret, 99)
            assert status == 202
            wait_all([execution_id], "completed", timeout=60, what="the webhook accepted behind the cut")
            proxy.heal()  # the held publish arrives now: a duplicate message, which runs nothing twice
            time.sleep(2)
        assert_nothing_twice([*warm, execution_id])
        relayed = _relayed(system)
    finally:
        proxy.close()
        _stop(beat)
    assert execution_id in relayed
    row = Execution.objects.get(pk=execution_id)
    waited = round((row.started_at - row.created_at).total_seconds() * 1000)  # type: ignore[operator]
    line = relayed[execution_id]
    print(
        f"\n[API broker connection black-holed after commit] commit → relay's publish {line['age_ms']} ms "
        f"({line['reason']}); commit → started {waited} ms"
    )
    connection.close()


@pytest.mark.timeout(400)
def test_a_black_holed_broker_does_not_wedge_the_api(system: SystemEnv) -> None:
    """Every publish is bounded (SCHEMA_PUBLISH_TIMEOUT_SECONDS): with the broker silent, each API
    thread gives its publish up and serves the next webhook, so 3x more webhooks than the API has
    threads are all answered 202 — without the bound, the first threads' publishes wait for a confirm
    that never comes and every later webhook hangs. Once the network heals, each one runs once."""
    schema = create_schema(definition=linear_definition("webhook_trigger"), name="outbox-wedge", activate=True)
    system.start_worker(concurrency=2, **NO_RECONCILER)
    beat = _start_beat(system)
    broker = urlsplit(system.vhost.url)
    proxy = CutProxy(broker.hostname or "127.0.0.1", broker.port or 5672)
    threads = 2  # per gunicorn worker, 2 workers: 4 threads in all
    answers: list[tuple[int, str]] = []
    try:
        env = _api_env(system, RABBITMQ_URL=proxy.url(system.vhost.url), SCHEMA_PUBLISH_TIMEOUT_SECONDS="1")
        with gunicorn_servers(1, threads=threads, **env) as [base]:
            hook = f"{base}/api/hooks/{schema.id}/"
            warm = [_post(hook, schema.webhook_secret, n)[1] for n in range(4)]
            wait_all(warm, "completed", timeout=60, what="the warm-up webhooks")
            proxy.blackhole()
            began = time.monotonic()

            def send(offset: int) -> None:
                for n in range(offset, 12, 4):
                    answers.append(_post(hook, schema.webhook_secret, 100 + n))

            senders = [threading.Thread(target=send, args=(i,)) for i in range(4)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join(timeout=200)
            answered_in = time.monotonic() - began
            assert sorted(status for status, _ in answers) == [202] * 12, Counter(s for s, _ in answers)
            proxy.heal()
            accepted = [execution_id for _, execution_id in answers]
            wait_all(accepted, "completed", timeout=120, what="the webhooks accepted while the broker was silent")
        assert_nothing_twice([*warm, *accepted])
    finally:
        proxy.close()
        _stop(beat)
    print(f"\n[broker black-holed] 12 webhooks on 4 API threads answered 202 within {answered_in:.1f} s")
    connection.close()
