"""gunicorn with `config/gunicorn.py`, for real: its own lines (boot, workers, shutdown, access) are
the JSON lines every other part writes, and it leaves no control socket in the user's home.

gunicorn's default format uses `%(process)d`, which `config/logging.py` turns off once Django is
loaded (`logging.logProcesses = False`): a worker's "Worker exiting" line then failed to format.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.live_api import free_port

BASE_DIR = Path(__file__).resolve().parents[1]


def run_gunicorn(tmp_path: Path, *extra: str) -> tuple[list[str], Path]:
    """Starts gunicorn, waits for an answer from the API, stops it with SIGTERM; returns every
    line it wrote (stdout and stderr) and the HOME it ran with."""
    home = tmp_path / "home"
    home.mkdir()
    metrics = tmp_path / "prometheus"
    env = {key: value for key, value in os.environ.items() if key != "XDG_RUNTIME_DIR"}
    env.update(
        HOME=str(home),
        DJANGO_SETTINGS_MODULE="config.settings.test",
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
        GUNICORN_WORKERS="2",
        LOG_LEVEL="INFO",
        SCHEMA_FALLBACK_WARNED="1",  # the test settings' banner when PostgreSQL is down is not ours
        PYTHONUNBUFFERED="1",
    )
    url = f"http://127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.py"]
    proc = subprocess.Popen(
        [*argv, "-b", url.removeprefix("http://"), *extra],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/health/live", timeout=2) as response:
                    assert response.status == 200
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return stdout.splitlines() + stderr.splitlines(), home


@pytest.mark.parametrize("extra", [(), ("--access-logfile", "-")], ids=["as-configured", "with-access-log"])
def test_gunicorn_writes_json_lines_only_and_no_control_socket(tmp_path: Path, extra: tuple[str, ...]) -> None:
    lines, home = run_gunicorn(tmp_path, *extra)
    text = "\n".join(lines)
    assert "Traceback" not in text and "TypeError" not in text and "Logging error" not in text, text
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}\n{text}")
    gunicorn = [r for r in records if r["logger"] == "gunicorn.error"]
    messages = " | ".join(r["message"] for r in gunicorn)
    assert "Starting gunicorn" in messages and "Booting worker" in messages, messages
    assert "Worker exiting" in messages and "Shutting down" in messages, messages
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    requests = [r for r in records if r.get("path") == "/api/health/live"]
    assert requests and requests[0]["status"] == 200  # the API's own request line, among them
    if extra:
        assert [r for r in records if r["logger"] == "gunicorn.access" and "/api/health/live" in r["message"]]
    else:  # the request middleware logs each request; gunicorn's access line would repeat it
        assert not [r for r in records if r["logger"] == "gunicorn.access"]
    assert not (home / ".gunicorn").exists(), list((home / ".gunicorn").iterdir())
