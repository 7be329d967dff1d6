"""Health of one backend process: the Docker HEALTHCHECK of the image and the chart's worker/beat probes.

    python /healthcheck.py                  # HEALTHCHECK: the process of PID 1, whichever it is
    python /healthcheck.py worker [--ready] # the worker's heartbeat is fresh (and it consumes)
    python /healthcheck.py beat             # beat holds the beat lock and its scheduler ticks

The API must answer /api/health/live. The worker and beat write heartbeat files into
`SCHEMA_HEARTBEAT_DIR` (config/heartbeat.py; this file stands alone so that a probe does not import
Django, hence the names repeated here): the worker from its consumer's event loop every 5 s, beat
after every scheduler pass (at least every 5 s). A file older than `HEARTBEAT_MAX_AGE` seconds
(default 60) means a hung or disconnected process.
"""

import os
import sys
import time
import urllib.request

WORKER_FILES = ("worker.heartbeat",)
WORKER_READY_FILES = ("worker.heartbeat", "worker.ready")
BEAT_FILES = ("beat.heartbeat",)


def fresh(names: tuple[str, ...]) -> int:
    directory = os.environ.get("SCHEMA_HEARTBEAT_DIR", "")
    if not directory:
        print("unhealthy: SCHEMA_HEARTBEAT_DIR is not set, so no heartbeat is written", file=sys.stderr)
        return 1
    max_age = float(os.environ.get("HEARTBEAT_MAX_AGE", "60"))
    for name in names:
        path = os.path.join(directory, name)
        try:
            age = time.time() - os.stat(path).st_mtime
        except OSError:
            print(f"unhealthy: no {path}", file=sys.stderr)
            return 1
        if age > max_age:
            print(f"unhealthy: {path} is {age:.0f} s old (more than {max_age:.0f} s)", file=sys.stderr)
            return 1
    return 0


def api() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/api/health/live"
    request = urllib.request.Request(url, headers={"Host": "localhost"})
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 (fixed local URL)
            return 0 if response.status < 400 else 1
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str]) -> int:
    if argv[:1] == ["worker"]:
        return fresh(WORKER_READY_FILES if "--ready" in argv else WORKER_FILES)
    if argv[:1] == ["beat"]:
        return fresh(BEAT_FILES)
    with open("/proc/1/cmdline", "rb") as f:
        cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    if "gunicorn" in cmdline or "runserver" in cmdline:
        return api()
    if "worker" in cmdline:
        return fresh(WORKER_FILES)
    if "beat" in cmdline:
        return fresh(BEAT_FILES)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
