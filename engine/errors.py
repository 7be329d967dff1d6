"""Exceptions raised by the engine core, and how a failure becomes what a failed step shows.

They are plain exceptions so the Django adapters can map them to HTTP answers (`InvalidTransition`
→ 409) or step errors (`NodeError`, `ExpressionError`) without importing anything else.
`step_failure` turns any exception a node raised into the step's readable message and its data:
an `EngineError` is a business result (its message is meant for the schema's owner); anything
else is a bug or fault of ours, shown as one sentence while its traceback stays with the operators
(logs, and the staff-only `error_details` of the step's output: `public_step_output`).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The key of a failed step's output that only staff may read (the traceback of an internal error).
STAFF_ONLY_OUTPUT_KEY = "error_details"


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class DefinitionError(EngineError):
    """The definition cannot be parsed into a graph (run `validate_definition` for details)."""


class ExpressionError(EngineError):
    """A `{{ ... }}` template failed to compile or evaluate, or hit a sandbox limit."""


class NodeError(EngineError):
    """A node failed as a business result (bad HTTP status, bad input): retried, then fails the step.

    `details` is JSON data added to the `error` port output so a flow can branch on it.
    """

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class InvalidTransition(EngineError):
    """A control action (resume, retry) does not fit the execution's current state."""


@dataclass(frozen=True)
class StepFailure:
    """What a failed step records: `message` goes to the step's `error` (one readable sentence),
    `output` to its `output` (type and details as data; the traceback under the staff-only key)."""

    message: str
    output: dict[str, Any]  # `output["error"]["internal"]`: a fault of ours, not of the schema


def step_failure(exc: BaseException, *, clean: Callable[[str], str | None] = str) -> StepFailure:
    """Describes the exception a node raised; `clean` bounds texts (the walker passes `safe_text`)."""
    if isinstance(exc, EngineError):
        message = clean(str(exc)) or type(exc).__name__
        details = exc.details if isinstance(exc, NodeError) else {}
        return StepFailure(message, {"error": {"type": type(exc).__name__, "message": message, "details": details}})
    # The exception's own text may name server paths or internals: it stays with the traceback.
    message = internal_error_message(type(exc).__name__)
    return StepFailure(
        message,
        {
            "error": {"type": type(exc).__name__, "message": message, "details": {}, "internal": True},
            STAFF_ONLY_OUTPUT_KEY: {"traceback": clean("".join(traceback.format_exception(exc)))},
        },
    )


def internal_error_message(type_name: str) -> str:
    return f"Internal error while running this node ({type_name}); the operators have the details."


def fail_node_output(message: str) -> dict[str, Any]:
    """The output of a `fail` node's step: the same shape as any other failure."""
    return {"error": {"type": "fail", "message": message, "details": {}}}


def public_step_output(output: Any) -> Any:
    """A step's output as a non-staff user may see it: without the staff-only details."""
    if isinstance(output, dict) and STAFF_ONLY_OUTPUT_KEY in output:
        return {k: v for k, v in output.items() if k != STAFF_ONLY_OUTPUT_KEY}
    return output


_TRACEBACK_HEAD = "Traceback (most recent call last):"
_ENGINE_ERRORS = frozenset(c.__name__ for c in (EngineError, DefinitionError, ExpressionError, NodeError))


def public_step_error(error: str | None) -> str | None:
    """A step's `error` as a non-staff user may see it. Steps recorded before the message-first rule
    hold a whole traceback: shown as its last line's message (an engine error's text is meant for
    the owner) or, for any other exception, as the internal-error sentence."""
    if not error or not error.startswith(_TRACEBACK_HEAD):
        return error
    last = error.strip().splitlines()[-1]
    name, _, message = last.partition(": ")
    name = name.rsplit(".", 1)[-1]
    return message if name in _ENGINE_ERRORS and message else internal_error_message(name)
