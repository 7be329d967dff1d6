"""OpenTelemetry tracing: one trace from a webhook request through the publish, the worker's walk,
each step, and the outbound HTTP calls (with a `traceparent` header).

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: then nothing of OpenTelemetry is even imported, and
the hot paths pay one `if` (`enabled()`). When on, `setup_tracing` installs a tracer provider
exporting over OTLP/HTTP (the SDK reads the standard `OTEL_*` variables: endpoint, headers, sampler,
`OTEL_SERVICE_NAME`) and the instrumentations the field maintains: Django (the request span, the
parent of everything the request does), Celery (the publish span; the task span continues the trace
from the message headers), psycopg (one span per statement) and urllib3 (the client span of each
outbound call, whose context goes out in `traceparent`). Log records carry `trace_id` and `span_id`
(`config.logging`). The step spans are the executions app's (`executions_app/tracing.py`).

Called by the API (`config/wsgi.py`, before Django loads its middleware) and by each worker process
that runs tasks (`config/celery_app.py`, after the fork: the exporter's thread does not survive one).
"""

from __future__ import annotations

import os
from typing import Any


class _State:
    configured = False
    provider: Any = None  # OpenTelemetry's global provider can be set once per process
    instrumentors: list[Any] = []


_state = _State()


def enabled() -> bool:
    """Tracing is on in this process (set up, or a span processor given by a test)."""
    return _state.configured


def wanted() -> bool:
    """The environment asks for tracing."""
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def setup_tracing(service_name: str, *, span_processor: Any = None) -> bool:
    """Install tracing in this process once; returns whether it is on. `span_processor` replaces the
    OTLP exporter (the tests pass an in-memory one); without it, tracing needs the endpoint."""
    if _state.configured:
        return True
    if span_processor is None and not wanted():
        return False
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from config import logging as log_config

    if span_processor is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        span_processor = BatchSpanProcessor(OTLPSpanExporter())
    if _state.provider is None:
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})
        _state.provider = TracerProvider(resource=resource)
        trace.set_tracer_provider(_state.provider)
    _state.provider.add_span_processor(span_processor)
    django = DjangoInstrumentor()
    # The request span of every view; health and metrics probes are noise in a trace store.
    django.instrument(excluded_urls="api/health/.*,metrics")
    others: list[Any] = [CeleryInstrumentor(), PsycopgInstrumentor(), URLLib3Instrumentor()]
    for instrumentor in others:
        instrumentor.instrument(skip_dep_check=True)
    _state.instrumentors = [django, *others]
    log_config.TRACE_IDS[:] = [_current_trace_ids]
    _state.configured = True
    return True


def stop_tracing() -> None:
    """Undo `setup_tracing` (tests): the instrumentations removed, log records without trace ids.
    The provider stays (it cannot be replaced); its processors were given by the caller."""
    from config import logging as log_config

    for instrumentor in _state.instrumentors:
        instrumentor.uninstrument()
    _state.instrumentors = []
    log_config.TRACE_IDS.clear()
    _state.configured = False


def _current_trace_ids() -> tuple[str, str] | None:
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
