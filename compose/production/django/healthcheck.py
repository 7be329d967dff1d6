"""Docker HEALTHCHECK of the backend image, whichever process it runs.

One image serves the API (gunicorn), the worker and beat, so the check looks at PID 1: the API
must answer /api/health/live, the worker its metrics endpoint; beat only has to be alive.
Kubernetes ignores this and uses the chart's probes.
"""

import os
import sys
import urllib.request


def main() -> int:
    with open("/proc/1/cmdline", "rb") as f:
        cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    if "gunicorn" in cmdline or "runserver" in cmdline:
        url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/api/health/live"
    elif "worker" in cmdline:
        url = f"http://127.0.0.1:{os.environ.get('WORKER_METRICS_PORT', '9100')}/metrics"
    else:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 (fixed local URL)
            return 0 if response.status < 400 else 1
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
