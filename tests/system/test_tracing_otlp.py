"""Tracing across processes, read back from an OTLP endpoint: a gunicorn API and a `celery worker`
(prefork) with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a local OTLP/HTTP receiver, as they would
point at Jaeger's or Tempo's. One webhook → a delay → an HTTP call: the spans of both processes
arrive over OTLP and form one trace, and the call's receiver got that trace in `traceparent`.

The receiver decodes what the SDK's exporter sends (`ExportTraceServiceRequest`, protobuf) with the
OpenTelemetry protocol package the exporter itself depends on; no collector binary is needed.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from executions_app.models import Execution
from tests.builders import chain, node
from tests.helpers.http_server import LocalServer
from tests.helpers.live_api import gunicorn_servers
from tests.system.conftest import SystemEnv
from tests.system.helpers import SYSTEM_MARKS, make_schema, wait_all, wait_until

pytestmark = SYSTEM_MARKS

trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")


class OtlpReceiver:
    """POST /v1/traces (OTLP/HTTP, protobuf): each span kept as a dict with its service's name."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = trace_service.ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            receiver.spans.append(
                                {
                                    "service": attrs.get("service.name"),
                                    "name": span.name,
                                    "trace_id": span.trace_id.hex(),
                                    "span_id": span.span_id.hex(),
                                    "parent": span.parent_span_id.hex(),
                                    "attributes": {a.key: _value(a.value) for a in span.attributes},
                                }
                            )
                answer = trace_service.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    otlp = OtlpReceiver()
    try:
        yield otlp
    finally:
        otlp.close()


def test_one_webhook_execution_is_one_trace_at_the_otlp_endpoint(system: SystemEnv, receiver: OtlpReceiver) -> None:
    endpoint, flush_ms = receiver.url, "100"  # the exporters send every 0.1 s
    target = LocalServer("127.0.0.1", "traced")
    try:
        schema = make_schema(
            chain(
                node("hook", "webhook_trigger"),
                node("pause", "delay", {"duration_seconds": 1}),
                node("call", "http_request", {"method": "POST", "url": target.url("/json"), "body": {"a": 1}}),
                node("done", "end", {"output": "{{ nodes.call.output.status }}"}),
            ),
            "traced",
        )
        schema.status = "active"
        schema.save(update_fields=["status"])
        system.start_worker(concurrency=1, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY=flush_ms)
        with gunicorn_servers(
            CELERY_TASK_ALWAYS_EAGER="false",
            RABBITMQ_URL=system.vhost.url,
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_BSP_SCHEDULE_DELAY=flush_ms,
        ) as (api,):
            request = urllib.request.Request(
                f"{api}/api/hooks/{schema.id}/",
                data=json.dumps({"order": 1}).encode(),
                headers={"Content-Type": "application/json", "X-Schema-Secret": schema.webhook_secret},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 202
                execution_id = json.loads(response.read())["id"]
            wait_all([execution_id], "completed", timeout=60)

            def exported() -> bool:
                names = {s["name"] for s in receiver.spans}
                return {"step hook", "step pause", "step call", "step done"} <= names and any(
                    s["service"] == "schema-api" and s["name"].startswith("POST") for s in receiver.spans
                )

            wait_until(exported, timeout=30, what="the spans of both processes at the OTLP endpoint")
    finally:
        target.close()

    request_span = next(s for s in receiver.spans if s["service"] == "schema-api" and "hooks" in s["name"])
    trace = [s for s in receiver.spans if s["trace_id"] == request_span["trace_id"]]
    steps = {s["attributes"]["schema.node.id"]: s for s in trace if s["name"].startswith("step ")}
    assert set(steps) == {"hook", "pause", "call", "done"}, sorted(s["name"] for s in trace)
    assert all(s["service"] == "schema-worker" for s in steps.values())
    assert all(s["attributes"]["schema.execution.id"] == execution_id for s in steps.values())
    assert steps["pause"]["attributes"]["schema.step.status"] == "paused"
    walks = [s for s in trace if s["name"] == "walk"]
    assert sorted(w["attributes"]["schema.walk.outcome"] for w in walks) == ["completed", "paused"]
    client = next(s for s in trace if s["parent"] == steps["call"]["span_id"] and s["name"].startswith("POST"))
    traceparent = target.requests[-1]["headers"].get("traceparent", "")
    assert traceparent.split("-")[1:3] == [request_span["trace_id"], client["span_id"]]
    assert Execution.objects.get(pk=execution_id).status == "completed"
