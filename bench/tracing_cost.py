"""What tracing costs on the two hot paths: instructions per webhook accept and per walk (callgrind,
the method of `bench/instructions.py`) with tracing off and with it on, exporting every span
(the default `parentbased_always_on` sampler) over OTLP/HTTP to a receiver on 127.0.0.1 that
answers 200 and counts what it gets.

    .venv/bin/python bench/tracing_cost.py [--calls 20 120] [--phase both|off|on] [--json out.json]

With tracing on the child process sets tracing up as the API and a worker process do
(`config.tracing.setup_tracing`): the Django request span, the Celery publish span, one span per
SQL statement, the walk's step spans, and the batch exporter's thread serialising and posting them
(its work is counted too: it runs in the same process). Results: docs/performance.md ("Tracing").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import instructions


class Receiver:
    """OTLP/HTTP endpoint: POST /v1/traces answered 200; counts the requests and bytes."""

    def __init__(self) -> None:
        self.posts = 0
        self.bytes = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts += 1
                receiver.bytes += len(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def child(part: str, calls: int) -> None:
    """Under valgrind: the instructions bench's child, with tracing set up first when asked."""
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        import django

        django.setup()
        from config.tracing import setup_tracing

        assert setup_tracing("schema-bench"), "tracing did not switch on"
    instructions.child(part, calls)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry import trace

        provider: Any = trace.get_tracer_provider()  # the SDK's provider: it has force_flush
        provider.force_flush()


def _run(part: str, calls: int, env: dict[str, str]) -> int:
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", instructions.PY, __file__,
            "--child", part, str(calls)]  # fmt: skip
    import subprocess

    result = subprocess.run(argv, cwd=instructions.ROOT, env=env, capture_output=True, text=True, check=False)
    found = instructions._COLLECTED.findall(result.stderr)
    if result.returncode != 0 or not found:
        sys.exit(f"{part} x{calls} under callgrind failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return int(found[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, nargs=2, default=[20, 120], metavar=("FEW", "MANY"))
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--phase", choices=("both", "off", "on"), default="both", help="tracing off, on, or both")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    instructions._run = _run  # the same measurement, through this file's child
    few, many = args.calls
    figures: dict[str, Any] = {}
    receiver = Receiver()
    for phase in ("off", "on") if args.phase == "both" else (args.phase,):
        if phase == "on":
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
        else:
            os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        figures[phase] = {k: round(v) for k, v in instructions.measure(few, many, args.jobs).items()}
        print(f"tracing {phase}: " + ", ".join(f"{k} {v / 1e6:.3f} M" for k, v in figures[phase].items()), flush=True)
    if "on" in figures:
        figures.update(otlp_posts=receiver.posts, otlp_bytes=receiver.bytes)
        print(f"receiver: {receiver.posts} OTLP posts, {receiver.bytes} bytes")
        if not receiver.posts:
            sys.exit("no span reached the receiver: tracing was not on")
    if "on" in figures and "off" in figures:
        for name, off in figures["off"].items():
            print(f"{name}: {figures['on'][name] / off - 1:+.0%} with tracing on")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
