"""Control actions on an execution's checkpoint: resume a `wait` with a payload, retry a failed step.

These are pure functions from a snapshot to the new checkpoint, so the API service can apply them
inside its own transaction (with the row locked), set the status to `running` and publish the
execution; the walker then continues from there. Wrong states raise `InvalidTransition` (→ 409).
Cancel needs no checkpoint change: the service marks the execution cancelled (paused/pending) or
requests cancellation (running), which the walker observes through `ExecutionStore.is_cancelled`.
"""

from __future__ import annotations

import copy
from typing import Any

from engine.errors import InvalidTransition
from engine.store import Checkpoint, ExecutionSnapshot


def prepare_resume(snapshot: ExecutionSnapshot, payload: Any) -> Checkpoint:
    """Checkpoint with the waiting `wait` node marked resumed; the payload becomes its output."""
    waiting = snapshot.checkpoint.get("waiting")
    if snapshot.status != "paused" or not waiting or waiting.get("kind") != "wait":
        raise InvalidTransition("only an execution paused at a wait node can be resumed")
    if waiting.get("resumed"):
        raise InvalidTransition("the execution was already resumed")
    checkpoint = copy.deepcopy(snapshot.checkpoint)
    checkpoint["waiting"].update({"resumed": True, "payload": payload})
    return checkpoint


def prepare_retry(snapshot: ExecutionSnapshot) -> Checkpoint:
    """Checkpoint that runs the failed node again (next attempt number, fresh retry budget)."""
    failed = snapshot.checkpoint.get("failed")
    if snapshot.status != "failed" or not failed:
        raise InvalidTransition("only an execution that failed at a node can be retried")
    checkpoint = copy.deepcopy(snapshot.checkpoint)
    item = dict(failed["item"])
    item.update({"attempt": int(failed["attempt"]) + 1, "tries": 1})
    checkpoint["queue"].insert(0, item)
    checkpoint["failed"] = None
    return checkpoint
