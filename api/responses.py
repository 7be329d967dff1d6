"""Responses that do work after the answer has been sent."""

from __future__ import annotations

from contextvars import Context, copy_context
from typing import Any

from rest_framework.response import Response

from config.tracing import enabled as tracing_enabled
from executions_app.models import Execution
from executions_app.services import execution_publish


class PublishAfterResponse(Response):
    """The answer to a webhook that created an execution; its run message is published once the
    answer has been sent.

    The execution is committed before the answer (202 means stored), so the sender need not wait for
    RabbitMQ's publisher confirm. For a quorum queue the confirm follows a replicated, fsynced write,
    and under load that was most of the accept latency. The WSGI server calls `close()` after the
    last byte of the body. Django's test client does the same. If the process dies in between, or
    the broker is down, the reconciler publishes the pending execution (`execution_publish`).
    """

    def __init__(self, data: Any, status: int, execution: Execution) -> None:
        super().__init__(data, status=status)
        self._unpublished: Execution | None = execution
        # With tracing on, the publish belongs to the request's trace, whose span is no longer
        # current when the server closes the response: publish in the view's context.
        self._context: Context | None = copy_context() if tracing_enabled() else None

    def close(self) -> None:
        execution, self._unpublished = self._unpublished, None
        try:
            if execution is not None:
                if self._context is not None:
                    self._context.run(execution_publish, execution)
                else:
                    execution_publish(execution)
        finally:
            super().close()
