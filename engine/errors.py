"""Exceptions raised by the engine core.

They are plain exceptions so the Django adapters can map them to HTTP answers (`InvalidTransition`
→ 409) or step errors (`NodeError`, `ExpressionError`) without importing anything else.
"""

from __future__ import annotations

from typing import Any


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
