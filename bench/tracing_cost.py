"""What tracing costs on the two hot paths: instructions per webhook accept and per walk (callgrind,
the method of `bench/instructions.py`) with tracing off and with it on, recording every span (the
default `parentbased_always_on` sampler) into an in-memory exporter (`memory`: what tracing costs
in the process, without serialising) or exporting them over OTLP/HTTP to a receiver on 127.0.0.1
that answers 200 and counts what it gets (`otlp`).

    .venv/bin/python bench/tracing_cost.py [--calls 20 120] [--phases off memory otlp] [--json out.json]

With tracing on the child process sets tracing up as the API and a worker process do
(`config.tracing.setup_tracing`): the Django request span, the Celery publish span, one span per
SQL statement, the walk's step spans, and the batch span processor's thread handing them to the
exporter (its work is counted too: it runs in the same process). Results: docs/performance.md
("Tracing").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import instructions

PHASES = ("off", "memory", "otlp")


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
    exporter = os.environ.get("BENCH_TRACING_EXPORTER", "")
    memory: Any = None
    if exporter:
        import django

        django.setup()
        from config.tracing import setup_tracing

        processor = None
        if exporter == "memory":  # the tests' exporter, behind the batch processor production uses
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

            memory = InMemorySpanExporter()
            processor = BatchSpanProcessor(memory)
        assert setup_tracing("schema-bench", span_processor=processor), "tracing did not switch on"
    instructions.child(part, calls)
    if exporter:
        from opentelemetry import trace

        provider: Any = trace.get_tracer_provider()  # the SDK's provider: it has force_flush
        provider.force_flush()
    if memory is not None:
        sys.stderr.write(f"spans recorded: {len(memory.get_finished_spans())}\n")


def _run(part: str, calls: int, env: dict[str, str]) -> int:
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", instructions.PY, __file__,
            "--child", part, str(calls)]  # fmt: skip
    import subprocess

    result = subprocess.run(argv, cwd=instructions.ROOT, env=env, capture_output=True, text=True, check=False)
    found = instructions._COLLECTED.findall(result.stderr)
    if result.returncode != 0 or not found:
        sys.exit(f"{part} x{calls} under callgrind failed ({result.returncode}):\n{result.stderr[-3000:]}")
    spans = _SPANS.findall(result.stderr)
    if spans:
        SPANS_RECORDED[part, calls] = int(spans[-1])
    return int(found[-1])


_SPANS = re.compile(r"spans recorded: (\d+)")
SPANS_RECORDED: dict[tuple[str, int], int] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, nargs=2, default=[20, 120], metavar=("FEW", "MANY"))
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--phases", nargs="+", choices=PHASES, default=list(PHASES), help="tracing off, on into memory, on over OTLP"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    instructions._run = _run  # the same measurement, through this file's child
    few, many = args.calls
    figures: dict[str, Any] = {}
    receiver = Receiver()
    for phase in args.phases:
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        os.environ.pop("BENCH_TRACING_EXPORTER", None)
        if phase != "off":
            os.environ["BENCH_TRACING_EXPORTER"] = phase
        if phase == "otlp":
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
        SPANS_RECORDED.clear()
        figures[phase] = {k: round(v) for k, v in instructions.measure(few, many, args.jobs).items()}
        print(f"tracing {phase}: " + ", ".join(f"{k} {v / 1e6:.3f} M" for k, v in figures[phase].items()), flush=True)
        if phase == "memory":
            if not SPANS_RECORDED:
                sys.exit("no span was recorded: tracing was not on")
            figures["memory_spans"] = {f"{part} x{calls}": n for (part, calls), n in sorted(SPANS_RECORDED.items())}
            print(f"spans recorded: {figures['memory_spans']}")
    if "otlp" in figures:
        figures.update(otlp_posts=receiver.posts, otlp_bytes=receiver.bytes)
        print(f"receiver: {receiver.posts} OTLP posts, {receiver.bytes} bytes")
        if not receiver.posts:
            sys.exit("no span reached the receiver: tracing was not on")
    for phase in ("memory", "otlp"):
        if phase in figures and "off" in figures:
            for name, off in figures["off"].items():
                print(f"{name}: {figures[phase][name] / off - 1:+.1%} with tracing on ({phase})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
