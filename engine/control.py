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
from engine.store import Checkpoint, ExecutionSnapshot, waiting_entries


def prepare_resume(snapshot: ExecutionSnapshot, payload: Any, node_id: str | None = None) -> Checkpoint:
    """Checkpoint with one waiting `wait` node marked resumed; the payload becomes its output.

    With parallel branches several `wait` nodes may wait at once: `node_id` says which one
    (optional when only one waits). Only a `paused` execution is resumed: while other branches
    run, the walker owns the checkpoint (it pauses as soon as every live branch waits)."""
    if snapshot.status != "paused":
        raise InvalidTransition("only a paused execution can be resumed (other branches are still running)")
    checkpoint = copy.deepcopy(snapshot.checkpoint)
    waits = [w for w in waiting_entries(checkpoint) if w.get("kind") == "wait"]
    if not waits:
        raise InvalidTransition("only an execution paused at a wait node can be resumed")
    open_waits = [w for w in waits if not w.get("resumed")]
    if node_id is not None:
        chosen = [w for w in waits if w["node_id"] == node_id]
        if not chosen:
            names = ", ".join(repr(w["node_id"]) for w in open_waits) or "none"
            raise InvalidTransition(f"node {node_id!r} is not a wait node this execution waits at (waiting: {names})")
        if chosen[0].get("resumed"):
            raise InvalidTransition(f"the wait node {node_id!r} was already resumed")
        target = chosen[0]
    elif not open_waits:
        raise InvalidTransition("the execution was already resumed")
    elif len(open_waits) > 1:
        names = ", ".join(repr(w["node_id"]) for w in open_waits)
        raise InvalidTransition(f"several branches wait ({names}): say which one with node_id")
    else:
        target = open_waits[0]
    target.update({"resumed": True, "payload": payload})
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
