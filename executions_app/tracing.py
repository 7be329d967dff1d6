"""Step spans: each node a walk runs becomes a span of the trace (`config/tracing.py` sets tracing up).

The engine stays free of OpenTelemetry: the runner hands the walker node types whose `run` is
wrapped in a span `step <node id>` (attributes `schema.node.id`, `schema.node.type`,
`schema.step.attempt`, `schema.step.status` = success | failed | paused, `schema.execution.id`).
Whatever a node does inside — the outbound call of `http_request` with its `traceparent` header, a
statement — is a child of its step. With tracing off `traced_node_types()` is None: the walker uses
its own registry and nothing here runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from config.tracing import enabled
from engine.nodes import NODE_TYPES, NodeContext, NodeResult, NodeType

_traced: dict[str, NodeType] = {}  # the wrapped registry, built at the first traced walk


class _TracedNodeType:
    """A node type whose every run is a span; everything else is the wrapped type's."""

    def __init__(self, inner: NodeType) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def run(self, ctx: NodeContext) -> NodeResult:
        from opentelemetry import trace

        tracer = trace.get_tracer("schema.executions")
        attributes: dict[str, Any] = {
            "schema.execution.id": ctx.execution_id,
            "schema.node.id": ctx.node.id,
            "schema.node.type": ctx.node.type,
            "schema.step.attempt": ctx.attempt,
        }
        with tracer.start_as_current_span(f"step {ctx.node.id}", attributes=attributes) as span:
            try:
                result = self._inner.run(ctx)
            except Exception as exc:
                span.set_attribute("schema.step.status", "failed")
                span.set_status(trace.StatusCode.ERROR, str(exc)[:200])
                raise  # the span records the exception; the walker records the failed step
            if result.fail_message is not None:
                span.set_attribute("schema.step.status", "failed")
                span.set_status(trace.StatusCode.ERROR, result.fail_message[:200])
            elif result.pause_kind is not None:
                span.set_attribute("schema.step.status", "paused")
                span.set_attribute("schema.step.pause", result.pause_kind)
                if result.resume_at is not None:
                    span.set_attribute("schema.step.resume_at", result.resume_at.isoformat())
            else:
                span.set_attribute("schema.step.status", "success")
            return result


def traced_node_types() -> dict[str, NodeType] | None:
    """The node registry with a span around each run when tracing is on; None (the walker's own
    registry) when it is off."""
    if not enabled():
        return None
    if len(_traced) != len(NODE_TYPES):
        _traced.update({name: _TracedNodeType(node_type) for name, node_type in NODE_TYPES.items()})  # type: ignore[misc]
    return _traced


class _NoWalkSpan:
    """What `walk_span` gives with tracing off: nothing to enter, nothing to record."""

    def __enter__(self) -> Callable[[str], None]:
        return _ignore

    def __exit__(self, *exc: object) -> None:
        return None


def _ignore(outcome: str) -> None:
    return None


_NO_WALK_SPAN = _NoWalkSpan()


def walk_span(execution_id: str, timer_id: int | None) -> AbstractContextManager[Callable[[str], None]]:
    """A span `walk` around one message's work (inside Celery's task span, which continues the
    trace of the request or of the pause that published the message); yields a function that records
    the outcome (completed, paused, failed, busy, timer-already-handled, ...)."""
    if not enabled():
        return _NO_WALK_SPAN
    return _walk_span(execution_id, timer_id)


@contextmanager
def _walk_span(execution_id: str, timer_id: int | None) -> Iterator[Callable[[str], None]]:
    from opentelemetry import trace

    attributes: dict[str, Any] = {"schema.execution.id": execution_id}
    if timer_id is not None:
        attributes["schema.timer.id"] = timer_id
    with trace.get_tracer("schema.executions").start_as_current_span("walk", attributes=attributes) as span:
        yield lambda outcome: span.set_attribute("schema.walk.outcome", outcome)
