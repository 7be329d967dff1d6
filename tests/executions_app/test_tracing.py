"""Tracing (config/tracing.py, executions_app/tracing.py) read back from an in-memory exporter.

One webhook request, one execution with a delay and an HTTP call, run by a real Celery worker (in
this process, on kombu's in-memory broker, so the messages carry the trace as RabbitMQ's would): the
whole run is one trace — the request, the publish, the worker's task and walk, a span per step, the
delay's timer message and the second walk, the outbound call — and the call carries `traceparent`.
Every log line of the execution carries the trace id. With tracing off nothing of this exists.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from config.logging import ContextFilter, JsonFormatter
from config.tracing import enabled, setup_tracing, stop_tracing
from executions_app.models import Execution
from executions_app.runner import execution_run
from executions_app.tracing import traced_node_types
from tests.builders import chain, node
from tests.factories import create_schema
from tests.helpers.http_server import LocalServer

pytestmark = pytest.mark.django_db(transaction=True)

otel = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    setup_tracing("schema-test", span_processor=SimpleSpanProcessor(spans))
    try:
        yield spans
    finally:
        stop_tracing()
        spans.shutdown()


@pytest.fixture
def memory_broker() -> Iterator[None]:
    """Publish for real (not eagerly) to kombu's in-memory transport, as to RabbitMQ."""
    from config.celery_app import app
    from tests.system.helpers import use_broker

    previous_url, previous_eager = app.conf.broker_url, app.conf.task_always_eager
    use_broker("memory://localhost/", eager=False)
    try:
        yield
    finally:
        use_broker(previous_url, eager=previous_eager)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The JSON log lines of the `schema` loggers, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("schema")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _definition(url: str) -> dict[str, Any]:
    return chain(
        node("hook", "webhook_trigger"),
        node("pause", "delay", {"duration_seconds": 1}),
        node(
            "call",
            "http_request",
            {"method": "POST", "url": url, "body": {"order": "{{ trigger.order }}"}, "timeout_seconds": 10},
        ),
        node("done", "end", {"output": "{{ nodes.call.output.status }}"}),
    )


def test_one_execution_with_a_delay_and_a_call_is_one_trace(
    exporter: InMemorySpanExporter,
    memory_broker: None,
    json_lines: io.StringIO,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    from celery.contrib.testing.worker import start_worker

    from config.celery_app import app
    from tests.helpers.live_api import free_port

    settings.SCHEMA_HTTP_ALLOWLIST = ["127.0.0.1"]
    settings.SCHEMA_WORKER_METRICS_PORT = free_port()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the worker's metrics, as in production
    server = LocalServer("127.0.0.1", "traced")
    try:
        schema = create_schema(definition=_definition(server.url("/json")), activate=True)
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            response = Client().post(
                f"/api/hooks/{schema.id}/",
                data=json.dumps({"order": 7}),
                content_type="application/json",
                HTTP_X_SCHEMA_SECRET=schema.webhook_secret,
            )
            assert response.status_code == 202, response.content
            execution_id = response.json()["id"]
            deadline = time.monotonic() + 30
            while not Execution.objects.filter(pk=execution_id, status="completed").exists():
                assert time.monotonic() < deadline, Execution.objects.get(pk=execution_id).status
                time.sleep(0.1)
    finally:
        server.close()

    spans: list[Any] = list(exporter.get_finished_spans())
    request = next(s for s in spans if s.kind == SpanKind.SERVER and "hooks" in s.name)
    trace_id = request.context.trace_id
    ours = [s for s in spans if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in ours}

    def ancestors(span: Any) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    steps = {s.attributes["schema.node.id"]: s for s in ours if s.name.startswith("step ")}
    assert set(steps) == {"hook", "pause", "call", "done"}, sorted(s.name for s in ours)
    for node_id, span in steps.items():
        assert span.attributes["schema.execution.id"] == execution_id
        assert span.attributes["schema.step.attempt"] == 1
        assert "walk" in ancestors(span)[:1], f"step {node_id} is not inside a walk: {ancestors(span)}"
    assert steps["pause"].attributes["schema.step.status"] == "paused"
    assert steps["call"].attributes["schema.step.status"] == "success"
    assert steps["done"].attributes["schema.node.type"] == "end"

    walks = [s for s in ours if s.name == "walk"]
    assert [w.attributes["schema.walk.outcome"] for w in sorted(walks, key=lambda s: s.start_time)] == [
        "paused",
        "completed",
    ]
    publishes = [s for s in ours if s.kind == SpanKind.PRODUCER]
    assert len(publishes) == 2, "the webhook's message and the delay's wake-up"
    assert request.name in ancestors(walks[0]), "the first walk continues the request's trace"
    wake_up = by_id[walks[1].parent.span_id]  # the task span, continued from the wake-up's message
    assert by_id[wake_up.parent.span_id].parent.span_id == walks[0].context.span_id, "published by the first walk"

    client = next(s for s in ours if s.kind == SpanKind.CLIENT and s.name.startswith("POST"))
    assert ancestors(client)[0] == "step call"
    sent = server.requests[-1]["headers"].get("traceparent", "")
    assert sent.split("-")[1:3] == [format(trace_id, "032x"), format(client.context.span_id, "016x")]

    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    of_execution = [line for line in lines if line.get("execution_id") == execution_id]
    assert len(of_execution) >= 6, of_execution  # started, a line per step, paused, completed
    assert {line.get("trace_id") for line in of_execution} == {format(trace_id, "032x")}


def test_with_tracing_off_the_walker_gets_its_own_node_types_and_logs_have_no_trace() -> None:
    assert not enabled()
    assert traced_node_types() is None
    schema = create_schema(definition=chain(node("go", "manual_trigger"), node("done", "end", {"output": 1})))
    from executions_app.services import execution_create

    execution, _ = execution_create(schema=schema, trigger_type="manual", payload={})
    assert execution_run(str(execution.id)) == "completed"
    record = logging.LogRecord("schema.engine", logging.INFO, "", 0, "x", (), None)
    ContextFilter().filter(record)
    assert not hasattr(record, "trace_id")
